package spelling

import "testing"

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "ab", 2}, {"call", "call", 0},
		{"calls", "call", 1}, {"kitten", "sitting", 3}, {"rabit_retry_interval", "rabbit_retry_interval", 1},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := Distance(tc.b, tc.a); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestNearest(t *testing.T) {
	words := []string{"call", "cast", "fanout", "notify"}
	for _, tc := range []struct {
		word string
		max  int
		want string
	}{
		{"calls", 2, "call"}, {"cost", 2, "cast"}, {"fanotu", 2, "fanout"}, {"xyz", 2, ""}, {"calls", 0, ""}, {"call", 0, "call"},
	} {
		if got := Nearest(tc.word, words, tc.max); got != tc.want {
			t.Errorf("Nearest(%q, %d) = %q, want %q", tc.word, tc.max, got, tc.want)
		}
	}
}
