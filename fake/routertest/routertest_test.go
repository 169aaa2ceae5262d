package routertest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"go.uber.org/goleak"

	"github.com/switchyard-dev/switchyard/fake/router"
	"github.com/switchyard-dev/switchyard/fake/routertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestNew(t *testing.T) {
	r := routertest.New(t, routertest.WithUser("u", "p"), routertest.WithProduct("qpid-cpp"),
		routertest.WithAddresses(router.Address{Prefix: "fan", Distribution: router.Multicast}))
	if !strings.HasPrefix(r.URL(), "amqp://u:p@127.0.0.1:") {
		t.Fatalf("URL %s", r.URL())
	}
	if d := r.Distribution("fan/out"); d != router.Multicast {
		t.Fatalf("distribution %s", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := amqp.Dial(ctx, r.URL(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("u", "p")})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if p := conn.Properties()["product"]; p != "qpid-cpp" {
		t.Fatalf("product %v", p)
	}
}
