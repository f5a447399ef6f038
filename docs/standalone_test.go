package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// outside matches citations of documents that are not in the repository:
// a product specification by section, a provider notes file, or a path
// beside the checkout. (Spelled in pieces so this file does not match.)
var outside = regexp.MustCompile(`\b` + "SP" + `EC\b|(?:^|[^/\w])` + "providers" + `\.md\b|\.\./` + "shared" + `\b|/work/` + "shared")

// TestStandsAlone: nothing in the repository cites a document the
// repository does not contain; what a maintainer needs is in docs/.
func TestStandsAlone(t *testing.T) {
	files := 0
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != ".." && (strings.HasPrefix(name, ".") || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() > 4<<20 {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for i, line := range strings.Split(string(b), "\n") {
			if outside.MatchString(line) {
				t.Errorf("%s:%d cites a document outside the repository: %s", path, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("read only %d files; is the walk broken?", files)
	}
}
