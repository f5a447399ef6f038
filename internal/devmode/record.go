package devmode

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// storeFile is the SQLite file's name inside Env.Dir.
const storeFile = "finconnect.db"

// RecordFile is where serve -dev records its store's path while it runs:
// finconnectd/dev-state under the user's cache directory ($XDG_CACHE_HOME,
// else ~/.cache; ~/Library/Caches on macOS), read through lookupEnv. It
// returns "" when neither variable is set.
func RecordFile(lookupEnv func(string) (string, bool)) string {
	get := func(k string) string {
		v, _ := lookupEnv(k)
		return v
	}
	dir := ""
	switch {
	case runtime.GOOS == "windows":
		dir = get("LocalAppData")
	case runtime.GOOS == "darwin" && get("HOME") != "":
		dir = filepath.Join(get("HOME"), "Library", "Caches")
	case get("XDG_CACHE_HOME") != "" && filepath.IsAbs(get("XDG_CACHE_HOME")):
		dir = get("XDG_CACHE_HOME")
	case get("HOME") != "":
		dir = filepath.Join(get("HOME"), ".cache")
	}
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "finconnectd", "dev-state")
}

// ErrNotRunning means no serve -dev has recorded a store.
var ErrNotRunning = errors.New("no 'finconnectd serve -dev' is running")

// CurrentStore returns the path of the SQLite store of the serve -dev that
// wrote file, or an error wrapping ErrNotRunning.
func CurrentStore(file string) (string, error) {
	if file == "" {
		return "", fmt.Errorf("%w (neither $XDG_CACHE_HOME nor $HOME is set, so it records nothing)", ErrNotRunning)
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w (it records its store in %s while it runs)", ErrNotRunning, file)
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", file, err)
	}
	path := strings.TrimSpace(string(b))
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("%s does not hold a store path; remove it", file)
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%w (%s names %s, which is gone)", ErrNotRunning, file, path)
	}
	return path, nil
}

// writeRecord writes path into file (creating its directory), replacing
// what an earlier serve -dev left.
func writeRecord(file, path string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("record the dev store's path: %w", err)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(path+"\n"), 0o600); err != nil {
		return fmt.Errorf("record the dev store's path: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("record the dev store's path: %w", err)
	}
	return nil
}

// removeRecord removes file if it still names path (a later serve -dev
// may have replaced it).
func removeRecord(file, path string) error {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove the dev store record: %w", err)
	}
	if !bytes.Equal(bytes.TrimSpace(b), []byte(path)) {
		return nil
	}
	if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the dev store record: %w", err)
	}
	return nil
}
