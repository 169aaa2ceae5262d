package mgmt

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeAPI answers the management API calls the client makes.
type fakeAPI struct {
	mu      sync.Mutex
	deleted []string
	reasons []string
	auth    string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	user, pass, _ := r.BasicAuth()
	f.auth = user + ":" + pass
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/connections":
		w.Write([]byte(`[{"name":"127.0.0.1:1 -> 127.0.0.1:5672","client_properties":{"connection_name":"svc:1:ab:rpc-server"}},
			{"name":"127.0.0.1:2 -> 127.0.0.1:5672","client_properties":{"connection_name":"svc:1:ab:send"}},
			{"name":"127.0.0.1:3 -> 127.0.0.1:5672","client_properties":{}}]`))
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/api/connections/"):
		f.deleted = append(f.deleted, strings.TrimPrefix(r.URL.Path, "/api/connections/"))
		f.reasons = append(f.reasons, r.Header.Get("X-Reason"))
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && r.URL.EscapedPath() == "/api/queues/%2F":
		w.Write([]byte(`[{"name":"reply_1"},{"name":"compute"}]`))
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

func TestClient(t *testing.T) {
	api := &fakeAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c, err := ForURL("rabbit://alice:s3cret@127.0.0.1:5672/", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	n, err := c.CloseConnections(ctx, "*:rpc-server")
	if err != nil || n != 1 {
		t.Fatalf("CloseConnections = %d, %v", n, err)
	}
	if len(api.deleted) != 1 || api.deleted[0] != "127.0.0.1:1 -> 127.0.0.1:5672" || api.reasons[0] == "" {
		t.Errorf("deleted %q with reasons %q", api.deleted, api.reasons)
	}
	if api.auth != "alice:s3cret" {
		t.Errorf("credentials %q", api.auth)
	}
	if n, err := c.CloseConnections(ctx, ""); err != nil || n != 3 {
		t.Errorf("close all = %d, %v", n, err)
	}
	qs, err := c.Queues(ctx, "/")
	if err != nil || strings.Join(qs, ",") != "reply_1,compute" {
		t.Errorf("Queues = %v, %v", qs, err)
	}
	if _, err := c.Queues(ctx, "other"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Queues of an unknown vhost: %v", err)
	}
}

func TestForURLDefaults(t *testing.T) {
	c, err := ForURL("rabbit://broker.example:5672/", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Base != "http://broker.example:15672" || c.User != "guest" || c.Pass != "guest" {
		t.Errorf("client %+v", c)
	}
	if _, err := ForURL("rabbit://h:notaport/", ""); err == nil {
		t.Error("a bad URL was accepted")
	}
}
