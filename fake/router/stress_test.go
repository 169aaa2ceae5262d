package router_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/switchyard-dev/switchyard/fake/routertest"
)

// TestConcurrentTraffic: producers and consumers on several connections
// with random outcomes, and a consumer that disappears midway. Every send
// ends with an outcome (none hangs) and the router's counters add up.
func TestConcurrentTraffic(t *testing.T) {
	r := routertest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const addr = "openstack.org/om/rpc/anycast/openstack/stress"
	const producers, perProducer = 4, 150

	var cwg sync.WaitGroup
	stopConsumers := make(chan struct{})
	for i := range 4 {
		c := dial(t, r, nil)
		rcv := c.receiver(t, addr, &amqp.ReceiverOptions{Credit: 20})
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			for n := 0; ; n++ {
				if i == 0 && n == 40 {
					c.conn.Close() // vanish with deliveries in flight
					return
				}
				short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				m, err := rcv.Receive(short, nil)
				cancel()
				if err != nil {
					select {
					case <-stopConsumers:
						return
					default:
						if ctx.Err() != nil {
							return
						}
						continue
					}
				}
				switch rng.IntN(10) {
				case 0:
					rcv.RejectMessage(ctx, m, nil)
				case 1:
					rcv.ReleaseMessage(ctx, m)
				case 2:
					rcv.ModifyMessage(ctx, m, nil)
				default:
					rcv.AcceptMessage(ctx, m)
				}
			}
		}()
	}
	waitCreditAtLeast(t, r, addr, 4*20)

	outcomes := make(chan string, producers*perProducer)
	var pwg sync.WaitGroup
	for p := range producers {
		snd := dial(t, r, nil).sender(t, addr, nil)
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			var receipts []amqp.SendReceipt
			for i := range perProducer {
				rc, err := snd.SendWithReceipt(ctx, amqp.NewMessage(fmt.Appendf(nil, "%d-%d", p, i)), nil)
				if err != nil {
					outcomes <- "send error: " + err.Error()
					continue
				}
				receipts = append(receipts, rc)
			}
			for i := range receipts {
				st, err := receipts[i].Wait(ctx)
				if err != nil {
					outcomes <- "wait error: " + err.Error()
					continue
				}
				outcomes <- fmt.Sprintf("%T", st)
			}
		}()
	}
	pwg.Wait()
	close(stopConsumers)
	cwg.Wait()
	close(outcomes)
	counts := map[string]int{}
	for o := range outcomes {
		counts[o]++
	}
	total := 0
	for o, n := range counts {
		switch o {
		case "*encoding.StateAccepted", "*encoding.StateRejected", "*encoding.StateReleased", "*encoding.StateModified":
			total += n
		default:
			t.Errorf("%d× %s", n, o)
		}
	}
	if total != producers*perProducer {
		t.Fatalf("outcomes %v", counts)
	}
	tot := r.Totals()
	if settled := tot.Accepted + tot.Rejected + tot.Released + tot.Modified; settled != tot.Received || tot.Received != producers*perProducer {
		t.Fatalf("totals %+v", tot)
	}
	if tot.Modified == 0 || tot.Accepted == 0 {
		t.Errorf("outcomes not mixed: %+v", tot)
	}
}
