// Package scenarios holds the chaos scenarios shipped with Switchyard, as
// YAML files beside this one, embedded so the chaos command can list and
// run them from anywhere.
package scenarios

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// Names lists the shipped scenario files, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// Read returns a shipped scenario file by its file name, with or without
// the .yaml extension.
func Read(name string) ([]byte, error) {
	if !strings.HasSuffix(name, ".yaml") {
		name += ".yaml"
	}
	return files.ReadFile(name)
}
