// Package mgmt is the small part of the RabbitMQ management HTTP API a
// chaos run uses against a staging broker: list connections and queues,
// and force-close connections.
package mgmt

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/fake/fault"
)

// Client talks to one RabbitMQ management API.
type Client struct {
	Base       string // such as http://127.0.0.1:15672
	User, Pass string
	HTTP       *http.Client
}

// ForURL returns a client for the management API of the broker a transport
// URL names: base when given, otherwise http://<first host>:15672, with the
// URL's credentials.
func ForURL(rawURL, base string) (*Client, error) {
	u, err := drivers.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	c := &Client{Base: strings.TrimRight(base, "/"), User: "guest", Pass: "guest", HTTP: &http.Client{Timeout: 10 * time.Second}}
	if len(u.Hosts) > 0 {
		h := u.Hosts[0]
		if h.HasCredentials || h.Username != "" {
			c.User, c.Pass = h.Username, h.Password
		}
		if c.Base == "" {
			host := h.Hostname
			if host == "" {
				host = "localhost"
			}
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
			c.Base = "http://" + host + ":15672"
		}
	}
	if c.Base == "" {
		c.Base = "http://localhost:15672"
	}
	return c, nil
}

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.User, c.Pass)
	if method == http.MethodDelete {
		req.Header.Set("X-Reason", "switchyard chaos fault")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("management API: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("management API %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("management API %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(body)))
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("management API %s %s: %w", method, path, err)
		}
	}
	return nil
}

// Connection is one client connection as the API lists it.
type Connection struct {
	Name             string `json:"name"`
	ClientProperties struct {
		ConnectionName string `json:"connection_name"`
	} `json:"client_properties"`
}

// Connections lists the broker's connections.
func (c *Client) Connections(ctx context.Context) ([]Connection, error) {
	var out []Connection
	err := c.do(ctx, http.MethodGet, "/api/connections", &out)
	return out, err
}

// CloseConnections force-closes the connections whose connection_name
// matches pattern (fault.Glob; "" matches all) and returns how many it
// closed. A connection that went away meanwhile is not an error.
func (c *Client) CloseConnections(ctx context.Context, pattern string) (int, error) {
	conns, err := c.Connections(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, conn := range conns {
		if pattern != "" && !fault.Glob(pattern, conn.ClientProperties.ConnectionName) {
			continue
		}
		err := c.do(ctx, http.MethodDelete, "/api/connections/"+url.PathEscape(conn.Name), nil)
		if err != nil && !strings.Contains(err.Error(), "404") {
			return n, err
		}
		n++
	}
	return n, nil
}

// Queues lists the queue names of a virtual host.
func (c *Client) Queues(ctx context.Context, vhost string) ([]string, error) {
	var out []struct {
		Name string `json:"name"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/queues/"+url.PathEscape(vhost), &out); err != nil {
		return nil, err
	}
	names := make([]string, len(out))
	for i, q := range out {
		names[i] = q.Name
	}
	return names, nil
}
