package envelope

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/switchyard-dev/switchyard/drivers"
)

// Priorities are the notification priorities oslo's notifier sends, upper
// case as they appear in the message; listeners subscribe to their lower
// case forms ("<topic>.info").
var Priorities = []string{"AUDIT", "DEBUG", "INFO", "WARN", "ERROR", "CRITICAL", "SAMPLE"}

// TimestampLayout is Python's str() of a naive UTC datetime with
// microseconds; oslo drops the fraction when it is zero.
const TimestampLayout = "2006-01-02 15:04:05.000000"

// FormatTimestamp renders t in UTC as oslo's notifier does.
func FormatTimestamp(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02 15:04:05")
	}
	return t.Format(TimestampLayout)
}

// ParseTimestamp reads a notification timestamp, with or without the
// fraction, as UTC.
func ParseTimestamp(s string) (time.Time, error) {
	layout := "2006-01-02 15:04:05"
	if strings.Contains(s, ".") {
		layout = TimestampLayout
	}
	t, err := time.ParseInLocation(layout, s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("notification timestamp %q is not \"YYYY-MM-DD HH:MM:SS[.ffffff]\"", s)
	}
	return t, nil
}

// Notification is the layout of a notification message.
type Notification struct {
	MessageID   string // uuid4 with dashes
	PublisherID string // such as "compute.host1"
	EventType   string // such as "compute.instance.create.end"
	Priority    string // upper case, one of Priorities
	Payload     any
	Timestamp   time.Time
}

// NewNotification returns a notification with a fresh message id, the
// priority in upper case and the current time.
func NewNotification(publisherID, eventType, priority string, payload any) Notification {
	return Notification{
		MessageID:   newUUID4(),
		PublisherID: publisherID,
		EventType:   eventType,
		Priority:    strings.ToUpper(priority),
		Payload:     payload,
		Timestamp:   time.Now(),
	}
}

func newUUID4() string {
	u, err := uuid.NewRandomFromReader(rand.Reader)
	if err != nil {
		panic("envelope: no randomness: " + err.Error())
	}
	return u.String()
}

// Message returns the notification as the application message a driver
// sends. The priority must be one of Priorities (any case).
func (n Notification) Message() (drivers.Message, error) {
	p := strings.ToUpper(n.Priority)
	if !slices.Contains(Priorities, p) {
		return nil, fmt.Errorf("notification priority %q is not one of %s", n.Priority, strings.Join(Priorities, ", "))
	}
	return drivers.Message{
		"message_id":   n.MessageID,
		"publisher_id": n.PublisherID,
		"event_type":   n.EventType,
		"priority":     p,
		"payload":      n.Payload,
		"timestamp":    FormatTimestamp(n.Timestamp),
	}, nil
}

// ParseNotification reads the notification layout from a received
// message.
func ParseNotification(m drivers.Message) (Notification, error) {
	var n Notification
	for key, dst := range map[string]*string{
		"message_id": &n.MessageID, "publisher_id": &n.PublisherID,
		"event_type": &n.EventType, "priority": &n.Priority,
	} {
		s, err := optString("notification "+key, m[key])
		if err != nil {
			return n, err
		}
		*dst = s
	}
	if n.Priority == "" {
		return n, fmt.Errorf("notification has no priority")
	}
	n.Payload = m["payload"]
	ts, err := optString("notification timestamp", m["timestamp"])
	if err != nil {
		return n, err
	}
	if ts != "" {
		if n.Timestamp, err = ParseTimestamp(ts); err != nil {
			return n, err
		}
	}
	return n, nil
}
