package router_test

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/fake/internal/amqp10"
	"github.com/switchyard-dev/switchyard/fake/router"
)

// TestCloseWithUnresponsiveClients: Close returns promptly even when a
// client never answers close and another has stopped reading while the
// router has a lot to send it.
func TestCloseWithUnresponsiveClients(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := router.Start(ctx, router.Options{CloseTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	mute := rawDial(t, r)
	mute.open(nil) // and never another word

	stuck := rawDial(t, r)
	stuck.open(nil)
	u32 := func(v uint32) *uint32 { return &v }
	stuck.frame(0, &amqp10.Begin{IncomingWindow: 1 << 20, OutgoingWindow: 100})
	stuck.want("begin")
	stuck.frame(0, &amqp10.Attach{Name: "s", Handle: 0, Role: amqp10.RoleReceiver, Source: &amqp10.Source{Address: "flood"}, Target: &amqp10.Target{}})
	stuck.want("attach")
	stuck.frame(0, &amqp10.Flow{NextIncomingID: u32(0), IncomingWindow: 1 << 20, OutgoingWindow: 100, Handle: u32(0), DeliveryCount: u32(0), LinkCredit: u32(10000)})
	waitCredit(t, r, "flood")

	mode := amqp.SenderSettleModeSettled
	snd := dial(t, r, nil).sender(t, "flood", &amqp.SenderOptions{SettlementMode: &mode})
	body := make([]byte, 60<<10)
	for range 200 { // 12 MB: far more than the socket buffers hold
		if err := snd.Send(ctx, amqp.NewMessage(body), nil); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("Close took %v", el)
	}
}
