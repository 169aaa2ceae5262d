package runner

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/internal/chaos/history"
	"github.com/switchyard-dev/switchyard/internal/chaos/scenario"
)

func TestOutcome(t *testing.T) {
	cases := []struct {
		err  error
		want history.Outcome
	}{
		{nil, history.OK},
		{&drivers.TimeoutError{Op: "reply"}, history.Unknown},
		{&drivers.DeliveryError{Ambiguous: true}, history.Unknown},
		{fmt.Errorf("wrapped: %w", &drivers.DeliveryError{}), history.Failed},
		{&drivers.DeliveryError{Undeliverable: true}, history.Failed},
		{drivers.ErrClosed, history.Failed},
		{context.DeadlineExceeded, history.Unknown},
		{errors.New("something else"), history.Unknown},
		{&drivers.RemoteError{Class: "ValueError"}, history.Unknown},
	}
	for _, c := range cases {
		if got := outcome(c.err); got != c.want {
			t.Errorf("outcome(%v) = %s, want %s", c.err, got, c.want)
		}
	}
	if got := errorClass(&drivers.DeliveryError{Ambiguous: true}); got != "delivery failure (ambiguous)" {
		t.Errorf("errorClass = %q", got)
	}
}

func TestMessageID(t *testing.T) {
	for _, c := range []struct {
		msg  drivers.Message
		want string
	}{
		{drivers.Message{"method": "m", "args": map[string]any{"id": "a-1"}}, "a-1"},
		{drivers.Message{"payload": map[string]any{"id": "n-2"}}, "n-2"},
		{drivers.Message{"args": map[string]any{"id": 3}}, ""},
		{drivers.Message{"payload": "text"}, ""},
		{nil, ""},
	} {
		if got := messageID(c.msg); got != c.want {
			t.Errorf("messageID(%v) = %q, want %q", c.msg, got, c.want)
		}
	}
}

func TestPlainAMQP(t *testing.T) {
	u, err := drivers.ParseURL("rabbit://user:p%40ss@broker:5673/my%2Fvhost")
	if err != nil {
		t.Fatal(err)
	}
	got, vhost, err := plainAMQP(u)
	if err != nil || got != "amqp://user:p%40ss@broker:5673/my%2Fvhost" || vhost != "my/vhost" {
		t.Errorf("plainAMQP = %q, %q, %v", got, vhost, err)
	}
	u, _ = drivers.ParseURL("rabbit://")
	if got, vhost, _ := plainAMQP(u); got != "amqp://guest:guest@localhost:5672/%2F" || vhost != "/" {
		t.Errorf("defaults: %q %q", got, vhost)
	}
}

func TestEffective(t *testing.T) {
	s, err := scenario.Parse("e.yaml", []byte("name: e\nseed: 4\nworkload:\n  - {kind: cast, rate: 1}\nfaults:\n  - {at: 1s, kind: close-connections, target: send}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e, seed, err := Effective(s, Config{URL: "rabbit://g:g@127.0.0.1:5672/", Seed: 9, SeedSet: true})
	if err != nil || seed != 9 || e.Seed != 9 || e.Backend.URL == "" || s.Backend.URL != "" {
		t.Errorf("Effective = %+v, %d, %v (original backend %+v)", e, seed, err, s.Backend)
	}
	var ie *InputError
	if _, _, err := Effective(s, Config{URL: "amqp://h"}); !errors.As(err, &ie) {
		t.Errorf("a non-rabbit URL: %v", err)
	}
}
