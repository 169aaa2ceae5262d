package drivers_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/drivers"
	"github.com/switchyard-dev/switchyard/internal/pyoslo"
)

type h = drivers.TransportHost

type urlCase struct {
	name   string
	in     string
	want   *drivers.TransportURL // nil when an error is expected
	err    string                // substring of the error
	osloOK bool                  // oslo parses it the same way (checked against Python)
}

func q(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

var urlCases = []urlCase{
	{"bare scheme", "rabbit://", &drivers.TransportURL{Scheme: "rabbit", Query: q()}, "", true},
	{"one host", "rabbit://localhost", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "localhost"}}, Query: q()}, "", true},
	{"host and port", "rabbit://broker:5673", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "broker", Port: 5673}}, Query: q()}, "", true},
	{"credentials", "rabbit://guest:secret@broker:5672/", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "broker", Port: 5672, Username: "guest", Password: "secret", HasCredentials: true}}, HasVirtualHost: true, Query: q()}, "", true},
	{"multi-host per-host credentials", "rabbit://u1:p1@h1:5672,u2:p2@h2:5673,h3/nova",
		&drivers.TransportURL{Scheme: "rabbit", Hosts: []h{
			{Hostname: "h1", Port: 5672, Username: "u1", Password: "p1", HasCredentials: true},
			{Hostname: "h2", Port: 5673, Username: "u2", Password: "p2", HasCredentials: true},
			{Hostname: "h3"},
		}, VirtualHost: "nova", HasVirtualHost: true, Query: q()}, "", true},
	{"ipv6 with port", "rabbit://guest:guest@[::1]:5672/", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "::1", Port: 5672, Username: "guest", Password: "guest", HasCredentials: true}}, HasVirtualHost: true, Query: q()}, "", true},
	{"ipv6 without port", "amqp://[fe80::1]", &drivers.TransportURL{Scheme: "amqp", Hosts: []h{{Hostname: "fe80::1"}}, Query: q()}, "", true},
	{"percent-encoded credentials and vhost", "rabbit://us%40er:p%3Aa%2Fss%23@host/v%2Fhost",
		&drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "host", Username: "us@er", Password: "p:a/ss#", HasCredentials: true}}, VirtualHost: "v/host", HasVirtualHost: true, Query: q()}, "", true},
	{"at sign in user", "rabbit://user@realm:pw@host", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "host", Username: "user@realm", Password: "pw", HasCredentials: true}}, Query: q()}, "", true},
	{"colon in password", "rabbit://u:a:b@host", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "host", Username: "u", Password: "a:b", HasCredentials: true}}, Query: q()}, "", true},
	{"user without password", "rabbit://user@host", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "host", Username: "user"}}, Query: q()}, "", true},
	{"empty password", "rabbit://user:@host", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "host", Username: "user", HasCredentials: true}}, Query: q()}, "", true},
	{"empty vhost", "rabbit://host/", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "host"}}, HasVirtualHost: true, Query: q()}, "", true},
	{"slash vhost", "rabbit://host//", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "host"}}, VirtualHost: "/", HasVirtualHost: true, Query: q()}, "", true},
	{"encoded slash vhost", "rabbit://host/%2F", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "host"}}, VirtualHost: "/", HasVirtualHost: true, Query: q()}, "", true},
	{"no vhost", "rabbit://host", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "host"}}, Query: q()}, "", true},
	{"query options", "rabbit://host/?rabbit_qos_prefetch_count=10&amqp_durable_queues=true",
		&drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "host"}}, HasVirtualHost: true, Query: q("rabbit_qos_prefetch_count", "10", "amqp_durable_queues", "true")}, "", true},
	{"repeated query key joined", "amqp://h/?pre_settled=rpc-cast&pre_settled=notify",
		&drivers.TransportURL{Scheme: "amqp", Hosts: []h{{Hostname: "h"}}, HasVirtualHost: true, Query: q("pre_settled", "rpc-cast,notify")}, "", true},
	{"blank query values dropped", "rabbit://h/?a=&b&c=1", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "h"}}, HasVirtualHost: true, Query: q("c", "1")}, "", true},
	{"plus in query is a space", "rabbit://h/?k=a+b%2B", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "h"}}, HasVirtualHost: true, Query: q("k", "a b+")}, "", true},
	{"scheme with dialect", "rabbit+foo://h", &drivers.TransportURL{Scheme: "rabbit+foo", Hosts: []h{{Hostname: "h"}}, Query: q()}, "", true},
	{"upper-case scheme", "RABBIT://h", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "h"}}, Query: q()}, "", true},
	{"empty entries in host list", "rabbit://,h1,,h2,", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "h1"}, {Hostname: "h2"}}, Query: q()}, "", true},
	{"credentials without host", "rabbit://u:p@/", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Username: "u", Password: "p", HasCredentials: true}}, HasVirtualHost: true, Query: q()}, "", true},
	{"empty port", "rabbit://h:/", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "h"}}, HasVirtualHost: true, Query: q()}, "", true},
	{"fragment ignored", "rabbit://h/v#frag", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "h"}}, VirtualHost: "v", HasVirtualHost: true, Query: q()}, "", true},
	{"pika multi-host", "pika://guest:guest@localhost:5672,h2:5673", &drivers.TransportURL{Scheme: "pika", Hosts: []h{{Hostname: "localhost", Port: 5672, Username: "guest", Password: "guest", HasCredentials: true}, {Hostname: "h2", Port: 5673}}, Query: q()}, "", true},
	{"malformed percent kept", "rabbit://u:%zz@h", &drivers.TransportURL{Scheme: "rabbit", Hosts: []h{{Hostname: "h", Username: "u", Password: "%zz", HasCredentials: true}}, Query: q()}, "", true},
	{"missing scheme", "localhost:5672", nil, "expected \"//\"", false},
	{"no scheme at all", "//host", nil, "no scheme", false},
	{"empty string", "", nil, "no scheme", false},
	{"bad scheme char", "rab_bit://h", nil, "no scheme", false},
	{"port not a number", "rabbit://h:abc", nil, "invalid port", false},
	{"port too large", "rabbit://h:70000", nil, "invalid port", false},
	{"signed port", "rabbit://h:+5", nil, "invalid port", false},
	{"unclosed ipv6", "rabbit://[::1:5672", nil, "IPv6", false},
	{"text after ipv6", "rabbit://[::1]x", nil, "IPv6", false},
	{"invalid utf-8", "rabbit://h\xff", nil, "UTF-8", false},
}

func TestParseURL(t *testing.T) {
	if len(urlCases) < 25 {
		t.Fatalf("only %d URL cases", len(urlCases))
	}
	for _, c := range urlCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := drivers.ParseURL(c.in)
			if c.want == nil {
				var ue *drivers.URLError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("ParseURL(%q) = %+v, %v; want a *URLError containing %q", c.in, got, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", c.in, err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("ParseURL(%q)\n got %+v\nwant %+v", c.in, got, c.want)
			}
		})
	}
}

func TestURLStringHidesPasswords(t *testing.T) {
	u, err := drivers.ParseURL("rabbit://u1:s3cret@h1:5672,u2:t0psecret@[::1]:5673/v%20h?opt=1")
	if err != nil {
		t.Fatal(err)
	}
	s := u.String()
	if strings.Contains(s, "s3cret") || strings.Contains(s, "t0psecret") {
		t.Fatalf("String() shows a password: %s", s)
	}
	if want := "rabbit://u1:****@h1:5672,u2:****@[::1]:5673/v%20h?opt=1"; s != want {
		t.Fatalf("String() = %s, want %s", s, want)
	}
	back, err := drivers.ParseURL(u.Secret())
	if err != nil || !reflect.DeepEqual(back, u) {
		t.Fatalf("Secret() does not round-trip: %s → %+v, %v", u.Secret(), back, err)
	}
	_, err = drivers.ParseURL("rabbit://user:hunter2@h:notaport")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error shows the password: %v", err)
	}
}

func TestHostAddr(t *testing.T) {
	cases := []struct {
		h    h
		want string
	}{
		{h{Hostname: "a"}, "a:5672"}, {h{Hostname: "a", Port: 1}, "a:1"}, {h{Hostname: "::1"}, "[::1]:5672"}, {h{}, "localhost:5672"},
	}
	for _, c := range cases {
		if got := c.h.Addr(drivers.DefaultPort); got != c.want {
			t.Errorf("%+v.Addr = %s, want %s", c.h, got, c.want)
		}
	}
	u, _ := drivers.ParseURL("rabbit+foo://h")
	if u.Driver() != "rabbit" {
		t.Fatalf("Driver() = %s", u.Driver())
	}
}

// TestURLMatchesOslo parses every accepted case with Python oslo.messaging
// 14's TransportURL.parse and compares hosts, credentials, virtual host and
// query with ours.
func TestURLMatchesOslo(t *testing.T) {
	pyoslo.Require(t)
	var inputs []string
	for _, c := range urlCases {
		if c.osloOK {
			inputs = append(inputs, c.in)
		}
	}
	const script = `
import json, sys
from oslo_config import cfg
import oslo_messaging
out = []
for raw in json.load(sys.stdin):
    u = oslo_messaging.TransportURL.parse(cfg.CONF, raw)
    out.append({"scheme": u.transport, "vhost": u.virtual_host, "query": u.query,
                "hosts": [{"hostname": h.hostname, "port": h.port, "username": h.username, "password": h.password} for h in u.hosts]})
json.dump(out, sys.stdout)
`
	var out []struct {
		Scheme string            `json:"scheme"`
		VHost  *string           `json:"vhost"`
		Query  map[string]string `json:"query"`
		Hosts  []struct {
			Hostname *string      `json:"hostname"`
			Port     *json.Number `json:"port"`
			Username *string      `json:"username"`
			Password *string      `json:"password"`
		} `json:"hosts"`
	}
	pyoslo.Run(t, time.Minute, script, inputs, &out)
	if len(out) != len(inputs) {
		t.Fatalf("python parsed %d URLs of %d", len(out), len(inputs))
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	for i, in := range inputs {
		got, err := drivers.ParseURL(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		py := out[i]
		if got.Scheme != py.Scheme || got.HasVirtualHost != (py.VHost != nil) || got.VirtualHost != str(py.VHost) || !reflect.DeepEqual(got.Query, py.Query) {
			t.Errorf("%q: ours %+v, oslo scheme %q vhost %v query %v", in, got, py.Scheme, py.VHost, py.Query)
		}
		if len(got.Hosts) != len(py.Hosts) {
			t.Errorf("%q: %d hosts, oslo %d", in, len(got.Hosts), len(py.Hosts))
			continue
		}
		for j, ph := range py.Hosts {
			gh := got.Hosts[j]
			port := 0
			if ph.Port != nil {
				n, _ := ph.Port.Int64()
				port = int(n)
			}
			if gh.Hostname != str(ph.Hostname) || gh.Port != port || gh.Username != str(ph.Username) || gh.Password != str(ph.Password) ||
				gh.HasCredentials != (ph.Username != nil && ph.Password != nil) {
				t.Errorf("%q host %d: ours %+v, oslo %q %v %v %v", in, j, gh, str(ph.Hostname), ph.Port, ph.Username, ph.Password)
			}
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, c := range urlCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := drivers.ParseURL(raw)
		if err != nil {
			var ue *drivers.URLError
			if !errors.As(err, &ue) {
				t.Fatalf("error is not a *URLError: %T %v", err, err)
			}
			return
		}
		s := u.String()
		for _, host := range u.Hosts {
			if len(host.Password) >= 3 && strings.Contains(s, host.Password) && !strings.Contains(host.Username+host.Hostname+u.VirtualHost+u.Scheme, host.Password) && !queryContains(u, host.Password) {
				t.Fatalf("String() %q shows password %q", s, host.Password)
			}
		}
		back, err := drivers.ParseURL(u.Secret())
		if err != nil {
			t.Fatalf("Secret() %q of %q does not parse: %v", u.Secret(), raw, err)
		}
		if !reflect.DeepEqual(back, u) {
			t.Fatalf("Secret() does not round-trip\n raw %q\n sec %q\n %+v\n %+v", raw, u.Secret(), u, back)
		}
	})
}

func queryContains(u *drivers.TransportURL, s string) bool {
	for k, v := range u.Query {
		if strings.Contains(k+"="+v, s) || strings.Contains(k, s) || strings.Contains(v, s) {
			return true
		}
	}
	return strings.Contains("****", s)
}
