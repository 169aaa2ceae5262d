package drivers

import (
	"net"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultPort is the port a host without one gets, for every scheme
// Switchyard speaks (AMQP 0-9-1 and AMQP 1.0 both use 5672).
const DefaultPort = 5672

// TransportHost is one broker location of a transport URL.
type TransportHost struct {
	Hostname string // without brackets for IPv6; empty when not given
	Port     int    // 0 when not given
	Username string // percent-decoded
	Password string // percent-decoded
	// HasCredentials is true when the host carried "user:pass@", so an
	// empty username or password was given explicitly.
	HasCredentials bool
}

// Addr returns "host:port", using defaultPort when the URL gave none and
// "localhost" when it gave no host name; IPv6 addresses are bracketed.
func (h TransportHost) Addr(defaultPort int) string {
	host := h.Hostname
	if host == "" {
		host = "localhost"
	}
	port := h.Port
	if port == 0 {
		port = defaultPort
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// TransportURL is a parsed oslo.messaging transport URL:
//
//	driver://[user:pass@]host[:port][,[user:pass@]host2[:port2]...]/virtual_host?opt=val
type TransportURL struct {
	// Scheme is the whole scheme, lower-cased, such as "rabbit" or
	// "rabbit+foo".
	Scheme string
	// Hosts in URL order; empty when the URL names none (drivers then use
	// localhost).
	Hosts []TransportHost
	// VirtualHost is the percent-decoded path after the first "/".
	// HasVirtualHost is false when the URL has no path at all; "rabbit://h/"
	// has an empty virtual host and "rabbit://h//" the virtual host "/".
	VirtualHost    string
	HasVirtualHost bool
	// Query holds the query options; repeated keys are joined with commas,
	// keys without a value are dropped, as oslo does.
	Query map[string]string
}

// Driver is the driver name: the scheme up to any "+".
func (u *TransportURL) Driver() string {
	d, _, _ := strings.Cut(u.Scheme, "+")
	return d
}

// String renders the URL in oslo's form with every password replaced by
// "****", so it is safe to log. Parsing the result gives the same URL but
// for the passwords.
func (u *TransportURL) String() string { return u.render(true) }

// Secret renders the URL with its passwords, for handing to a client
// library; never log it.
func (u *TransportURL) Secret() string { return u.render(false) }

func (u *TransportURL) render(mask bool) string {
	var b strings.Builder
	b.WriteString(u.Scheme)
	b.WriteString("://")
	for i, h := range u.Hosts {
		if i > 0 {
			b.WriteByte(',')
		}
		if h == (TransportHost{}) {
			b.WriteByte(':') // a location with nothing given, as in "rabbit://:"
			continue
		}
		if h.HasCredentials || h.Username != "" || h.Password != "" {
			b.WriteString(quote(h.Username))
			if h.Password != "" || h.HasCredentials {
				b.WriteByte(':')
				if mask {
					b.WriteString("****")
				} else {
					b.WriteString(quote(h.Password))
				}
			}
			b.WriteByte('@')
		}
		if strings.Contains(h.Hostname, ":") {
			b.WriteString("[" + h.Hostname + "]")
		} else {
			b.WriteString(h.Hostname)
		}
		if h.Port != 0 {
			b.WriteString(":" + strconv.Itoa(h.Port))
		}
	}
	if u.HasVirtualHost {
		b.WriteByte('/')
		b.WriteString(quotePath(u.VirtualHost))
	}
	if len(u.Query) > 0 {
		keys := make([]string, 0, len(u.Query))
		for k := range u.Query {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i == 0 {
				b.WriteByte('?')
			} else {
				b.WriteByte('&')
			}
			b.WriteString(quote(k) + "=" + quote(u.Query[k]))
		}
	}
	return b.String()
}

// ParseURL parses a transport URL exactly as oslo.messaging's
// TransportURL.parse does, except that it refuses what oslo would only fail
// on later: a scheme without "//", a port that is not a number from 0 to
// 65535, an unbalanced IPv6 bracket. Errors are *URLError and never show a
// password.
func ParseURL(raw string) (*TransportURL, error) {
	fail := func(reason string) (*TransportURL, error) {
		return nil, &URLError{URL: maskRaw(raw), Reason: reason}
	}
	if !utf8.ValidString(raw) {
		return fail("not valid UTF-8")
	}
	// Like Python's urlsplit: strip leading controls and spaces, drop tabs
	// and newlines anywhere.
	s := strings.TrimLeft(raw, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
	s = strings.NewReplacer("\t", "", "\r", "", "\n", "").Replace(s)
	colon := strings.IndexByte(s, ':')
	if colon <= 0 || !validScheme(s[:colon]) {
		return fail("no scheme specified (expected driver://..., such as rabbit://host)")
	}
	u := &TransportURL{Scheme: strings.ToLower(s[:colon]), Query: map[string]string{}}
	rest := s[colon+1:]
	if !strings.HasPrefix(rest, "//") {
		return fail("expected \"//\" after \"" + u.Scheme + ":\"")
	}
	rest = rest[2:]
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	query := ""
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		rest, query = rest[:i], rest[i+1:]
	}
	netloc, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		netloc, path = rest[:i], rest[i:]
	}
	if strings.Contains(netloc, "[") != strings.Contains(netloc, "]") {
		return fail("invalid IPv6 host: unbalanced bracket")
	}
	if path != "" {
		u.HasVirtualHost = true
		u.VirtualHost = unquote(path[1:], false)
	}
	for _, kv := range strings.Split(query, "&") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			continue
		}
		k, v = unquote(k, true), unquote(v, true)
		if prev, dup := u.Query[k]; dup {
			v = prev + "," + v
		}
		u.Query[k] = v
	}
	for _, hs := range strings.Split(netloc, ",") {
		if hs == "" {
			continue
		}
		h := TransportHost{}
		hostport := hs
		if at := strings.LastIndexByte(hs, '@'); at >= 0 {
			cred := hs[:at]
			hostport = hs[at+1:]
			user, pass, hasPass := strings.Cut(cred, ":")
			h.Username = unquote(user, false)
			if hasPass {
				h.Password = unquote(pass, false)
				h.HasCredentials = true
			}
		}
		port := ""
		switch {
		case strings.HasPrefix(hostport, "["):
			end := strings.IndexByte(hostport, ']')
			if end < 0 {
				return fail("invalid IPv6 host: missing \"]\"")
			}
			h.Hostname = hostport[1:end]
			after := hostport[end+1:]
			if after != "" {
				p, ok := strings.CutPrefix(after, ":")
				if !ok {
					return fail("unexpected text after IPv6 host: " + strconv.Quote(after))
				}
				port = p
			}
		default:
			h.Hostname, port, _ = strings.Cut(hostport, ":")
		}
		if port != "" {
			n, err := strconv.Atoi(port)
			if err != nil || n < 0 || n > 65535 || port[0] == '+' || port[0] == '-' {
				return fail("invalid port " + strconv.Quote(port) + " for host " + strconv.Quote(h.Hostname))
			}
			h.Port = n
		}
		u.Hosts = append(u.Hosts, h)
	}
	return u, nil
}

func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if i == 0 && !alpha {
			return false
		}
		if !alpha && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// unquote percent-decodes like Python's urllib.parse.unquote (plus=true:
// unquote_plus): malformed escapes are kept as they are and invalid UTF-8
// becomes U+FFFD.
func unquote(s string, plus bool) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		case c == '+' && plus:
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// quote percent-encodes everything but Python's always-safe characters.
func quote(s string) string { return quoteSafe(s, "") }

func quotePath(s string) string { return quoteSafe(s, "/") }

func quoteSafe(s, safe string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.-~", c) >= 0 || strings.IndexByte(safe, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&15])
	}
	return b.String()
}

// maskRaw hides anything that may be a password in an unparsable URL: the
// text between the first ':' and '@' of each comma-separated location.
func maskRaw(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		if strings.Contains(raw, "@") {
			return "(URL hidden: it may contain a password)"
		}
		return raw
	}
	end := strings.IndexAny(rest, "/?#")
	netloc, tail := rest, ""
	if end >= 0 {
		netloc, tail = rest[:end], rest[end:]
	}
	parts := strings.Split(netloc, ",")
	for i, p := range parts {
		at := strings.LastIndexByte(p, '@')
		if at < 0 {
			continue
		}
		if user, _, hasPass := strings.Cut(p[:at], ":"); hasPass {
			parts[i] = user + ":****" + p[at:]
		}
	}
	return scheme + "://" + strings.Join(parts, ",") + tail
}
