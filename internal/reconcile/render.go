package reconcile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Render writes the plan for humans, in Terraform's style.
func Render(w io.Writer, p *Plan) error {
	b := bufio.NewWriter(w)
	if !p.HasChanges() {
		b.WriteString("No changes. The providers match the configuration.\n")
		if !p.Refreshed {
			b.WriteString("\n(-refresh=false: the providers were not read, only configuration and state.)\n")
		}
		return b.Flush()
	}
	used := map[Action]bool{}
	for _, c := range p.Changes {
		used[c.Action] = true
	}
	b.WriteString("Resource actions are indicated with the following symbols:\n")
	for _, a := range []Action{ActionCreate, ActionUpdate, ActionReplace, ActionForget} {
		if used[a] {
			fmt.Fprintf(b, "%s %s\n", symbol(a), legend(a))
		}
	}
	b.WriteString("\nfinconnectd will perform the following actions:\n")
	for i := range p.Changes {
		b.WriteString("\n")
		renderChange(b, &p.Changes[i])
	}
	add, change, forget := p.Counts()
	fmt.Fprintf(b, "\nPlan: %d to add, %d to change, %d to forget.\n", add, change, forget)
	if !p.Refreshed {
		b.WriteString("\n(-refresh=false: the providers were not read, only configuration and state.)\n")
	}
	return b.Flush()
}

func symbol(a Action) string {
	switch a {
	case ActionCreate:
		return "  +"
	case ActionUpdate:
		return "  ~"
	case ActionReplace:
		return "-/+"
	case ActionForget:
		return "  -"
	}
	return "  ?"
}

func legend(a Action) string {
	switch a {
	case ActionCreate:
		return "create"
	case ActionUpdate:
		return "update in-place"
	case ActionReplace:
		return "forget, then create replacement"
	case ActionForget:
		return "forget (remove from state only)"
	}
	return string(a)
}

func renderChange(b *bufio.Writer, c *ResourceChange) {
	switch c.Action {
	case ActionCreate:
		if c.AdoptID != "" {
			fmt.Fprintf(b, "  # %s will be created (adopts existing ipn_id %s; no new registration)\n", c.Address, c.AdoptID)
		} else {
			fmt.Fprintf(b, "  # %s will be created\n", c.Address)
		}
	case ActionUpdate:
		fmt.Fprintf(b, "  # %s will be updated in-place\n", c.Address)
	case ActionReplace:
		fmt.Fprintf(b, "  # %s must be replaced\n", c.Address)
	case ActionForget:
		fmt.Fprintf(b, "  # %s will be forgotten\n", c.Address)
	}
	if c.Reason != "" {
		fmt.Fprintf(b, "  # (%s)\n", c.Reason)
	}
	if c.Action == ActionReplace && c.AdoptID != "" {
		fmt.Fprintf(b, "  # (the replacement adopts existing ipn_id %s; no new registration)\n", c.AdoptID)
	}
	fmt.Fprintf(b, "%s resource %q %q {\n", symbol(c.Action), c.Type, c.Name)

	type line struct{ sym, name, text string }
	var lines []line
	unknown := map[string]bool{}
	for _, k := range c.AfterUnknown {
		unknown[k] = true
	}
	forces := map[string]bool{}
	for _, k := range c.ReplacePaths {
		forces[k] = true
	}
	keys := map[string]bool{}
	for k := range c.Before {
		keys[k] = true
	}
	for k := range c.After {
		keys[k] = true
	}
	for k := range unknown {
		keys[k] = true
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	hidden := 0
	for _, k := range names {
		old, hadOld := c.Before[k]
		nw, hasNew := c.After[k]
		suffix := ""
		if forces[k] {
			suffix = " # forces replacement"
		}
		switch {
		case c.Action == ActionCreate:
			if unknown[k] {
				lines = append(lines, line{"+", k, "(known after apply)"})
			} else {
				lines = append(lines, line{"+", k, value(k, nw)})
			}
		case c.Action == ActionForget:
			lines = append(lines, line{"-", k, value(k, old)})
		case unknown[k] && hadOld:
			lines = append(lines, line{"~", k, value(k, old) + " -> (known after apply)" + suffix})
		case unknown[k]:
			lines = append(lines, line{"+", k, "(known after apply)"})
		case hadOld && hasNew && old == nw:
			if c.Action == ActionUpdate {
				hidden++
				continue
			}
			lines = append(lines, line{" ", k, value(k, nw)})
		case hadOld && hasNew:
			lines = append(lines, line{"~", k, value(k, old) + " -> " + value(k, nw) + suffix})
		case hasNew:
			lines = append(lines, line{"+", k, value(k, nw)})
		default:
			lines = append(lines, line{"-", k, value(k, old) + " -> null"})
		}
	}
	width := 0
	for _, l := range lines {
		width = max(width, len(l.name))
	}
	for _, l := range lines {
		fmt.Fprintf(b, "      %s %-*s = %s\n", l.sym, width, l.name, l.text)
	}
	if hidden > 0 {
		fmt.Fprintf(b, "        # (%d unchanged attributes hidden)\n", hidden)
	}
	b.WriteString("    }\n")
}

// value renders an attribute value; a PEM public key is summarised (it is
// not secret, only long).
func value(name, v string) string {
	if strings.HasSuffix(name, "_pem") && v != "" {
		return fmt.Sprintf("(PEM, %d bytes)", len(v))
	}
	return strconv.Quote(v)
}

// jsonPlan is the JSON form of a plan: plan -json and saved plan files.
type jsonPlan struct {
	FormatVersion   string       `json:"format_version"`
	Lineage         string       `json:"lineage"`
	Serial          int64        `json:"serial"`
	CreatedAt       time.Time    `json:"created_at"`
	Refreshed       bool         `json:"refreshed"`
	ResourceChanges []jsonChange `json:"resource_changes"`
}

type jsonChange struct {
	Address      string            `json:"address"`
	Type         string            `json:"type"`
	Name         string            `json:"name"`
	Provider     string            `json:"provider"`
	Actions      []string          `json:"actions"`
	Before       map[string]string `json:"before"`
	After        map[string]string `json:"after"`
	AfterUnknown map[string]bool   `json:"after_unknown,omitempty"`
	ReplacePaths [][]string        `json:"replace_paths,omitempty"`
	Importing    *jsonImporting    `json:"importing,omitempty"`
	Reason       string            `json:"reason,omitempty"`
}

type jsonImporting struct {
	ID string `json:"id"`
}

func actionsOf(a Action) []string {
	if a == ActionReplace {
		return []string{"forget", "create"}
	}
	return []string{string(a)}
}

func actionFrom(actions []string) (Action, error) {
	switch strings.Join(actions, ",") {
	case "create":
		return ActionCreate, nil
	case "update":
		return ActionUpdate, nil
	case "forget,create":
		return ActionReplace, nil
	case "forget":
		return ActionForget, nil
	}
	return "", fmt.Errorf("unknown actions %q", actions)
}

func (p *Plan) toJSON() jsonPlan {
	j := jsonPlan{FormatVersion: FormatVersion, Lineage: p.Lineage, Serial: p.Serial, CreatedAt: p.CreatedAt, Refreshed: p.Refreshed,
		ResourceChanges: make([]jsonChange, 0, len(p.Changes))}
	for _, c := range p.Changes {
		jc := jsonChange{Address: c.Address, Type: c.Type, Name: c.Name, Provider: c.Provider, Actions: actionsOf(c.Action),
			Before: c.Before, After: c.After, Reason: c.Reason}
		if len(c.AfterUnknown) > 0 {
			jc.AfterUnknown = map[string]bool{}
			for _, k := range c.AfterUnknown {
				jc.AfterUnknown[k] = true
			}
		}
		for _, k := range c.ReplacePaths {
			jc.ReplacePaths = append(jc.ReplacePaths, []string{k})
		}
		if c.AdoptID != "" {
			jc.Importing = &jsonImporting{ID: c.AdoptID}
		}
		j.ResourceChanges = append(j.ResourceChanges, jc)
	}
	return j
}

func (j jsonPlan) toPlan() (*Plan, error) {
	if j.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("plan format_version %q is not supported (want %q)", j.FormatVersion, FormatVersion)
	}
	p := &Plan{Lineage: j.Lineage, Serial: j.Serial, CreatedAt: j.CreatedAt, Refreshed: j.Refreshed}
	for _, jc := range j.ResourceChanges {
		a, err := actionFrom(jc.Actions)
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", jc.Address, err)
		}
		if jc.Type != TypeIPN && jc.Type != TypeKey {
			return nil, fmt.Errorf("resource %s: unknown type %q", jc.Address, jc.Type)
		}
		if jc.Address != jc.Type+"."+jc.Name {
			return nil, fmt.Errorf("resource %s: address does not match type %q and name %q", jc.Address, jc.Type, jc.Name)
		}
		c := ResourceChange{Address: jc.Address, Type: jc.Type, Name: jc.Name, Provider: jc.Provider, Action: a,
			Before: jc.Before, After: jc.After, Reason: jc.Reason}
		for k, v := range jc.AfterUnknown {
			if v {
				c.AfterUnknown = append(c.AfterUnknown, k)
			}
		}
		sort.Strings(c.AfterUnknown)
		for _, path := range jc.ReplacePaths {
			c.ReplacePaths = append(c.ReplacePaths, strings.Join(path, "."))
		}
		if jc.Importing != nil {
			c.AdoptID = jc.Importing.ID
		}
		if a != ActionForget && c.After == nil {
			return nil, fmt.Errorf("resource %s: %s without after", jc.Address, a)
		}
		p.Changes = append(p.Changes, c)
	}
	return p, nil
}

// RenderJSON writes the plan as one JSON document: format_version, lineage,
// serial and resource_changes (address, type, name, actions, before, after).
func RenderJSON(w io.Writer, p *Plan) error {
	enc := json.NewEncoder(w)
	if err := enc.Encode(p.toJSON()); err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	return nil
}

// ParseJSON reads a plan written by RenderJSON.
func ParseJSON(r io.Reader) (*Plan, error) {
	var j jsonPlan
	dec := json.NewDecoder(io.LimitReader(r, 64<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("decode plan: %w", err)
	}
	return j.toPlan()
}
