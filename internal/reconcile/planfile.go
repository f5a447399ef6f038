package reconcile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// Save writes the plan to path atomically (temporary file, fsync, rename),
// readable by its owner only. The file is the plan's JSON form: addresses,
// actions, before/after attributes, lineage and serial; never a secret.
func (p *Plan) Save(path string) error {
	var buf bytes.Buffer
	if err := RenderJSON(&buf, p); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// LoadPlan reads a plan saved by Save.
func LoadPlan(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load plan: %w", err)
	}
	defer f.Close()
	p, err := ParseJSON(f)
	if err != nil {
		return nil, fmt.Errorf("load plan %s: %w", path, err)
	}
	return p, nil
}
