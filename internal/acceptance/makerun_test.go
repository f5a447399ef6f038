package acceptance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shellWords splits a command line the way sh does for the subset the
// banner uses: blanks separate words, '…' is literal, "…" allows \" \\ \$
// and \` escapes, and a backslash outside quotes escapes the next byte.
func shellWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			in = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

// curlRequest is what a banner curl line asks for.
type curlRequest struct {
	method  string
	url     string
	headers []string // name, value pairs
	body    string
}

// parseCurl understands the options the banner's curl lines use: -sS,
// -H HEADER, -d DATA (a POST) and the URL.
func parseCurl(line string) (curlRequest, error) {
	words, err := shellWords(line)
	if err != nil {
		return curlRequest{}, err
	}
	if len(words) == 0 || words[0] != "curl" {
		return curlRequest{}, fmt.Errorf("not a curl command: %q", line)
	}
	r := curlRequest{method: http.MethodGet}
	for i := 1; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "-s" || w == "-S" || w == "-sS" || w == "-Ss":
		case w == "-H" && i+1 < len(words):
			i++
			name, value, ok := strings.Cut(words[i], ":")
			if !ok {
				return r, fmt.Errorf("header %q has no colon", words[i])
			}
			r.headers = append(r.headers, strings.TrimSpace(name), strings.TrimSpace(value))
		case (w == "-d" || w == "--data") && i+1 < len(words):
			i++
			r.body, r.method = words[i], http.MethodPost
		case strings.HasPrefix(w, "-"):
			return r, fmt.Errorf("curl option %q is not understood", w)
		default:
			if r.url != "" {
				return r, fmt.Errorf("two URLs: %q and %q", r.url, w)
			}
			r.url = w
		}
	}
	if r.url == "" {
		return r, fmt.Errorf("no URL in %q", line)
	}
	return r, nil
}

func TestShellWords(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`curl -sS -H "Authorization: Bearer dev_1" -H 'Content-Type: application/json' -d '{"a":"b c"}' http://x/v1`,
			[]string{"curl", "-sS", "-H", "Authorization: Bearer dev_1", "-H", "Content-Type: application/json", "-d", `{"a":"b c"}`, "http://x/v1"}},
		{`a\ b "c\"d" 'e\f'`, []string{"a b", `c"d`, `e\f`}},
	} {
		got, err := shellWords(c.in)
		if err != nil || strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("shellWords(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// TestMakeRunFlow is what `make run` gives a new developer (issue 6): the
// binary's `serve -dev` prints a banner with the API token and curl lines;
// each printed request, sent as printed, starts a payment whose
// payment.succeeded event the built-in sink logs as signature-verified a
// moment later. Ctrl-C stops it with status 0 and removes the temporary
// state.
func TestMakeRunFlow(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	env := []string{"TMPDIR=" + tmp, "XDG_CACHE_HOME=" + tmp}
	p := startProc(t, "serve -dev", env, "serve", "-dev")
	p.waitOutput(t, "The phone's last digit picks the outcome", 60*time.Second)
	banner := p.stdout.String()

	m := regexp.MustCompile(`(?m)^\s+pay API\s+(http://\S+)\s+token: (dev_\S+)$`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("the banner has no pay API line with a token:\n%s", banner)
	}
	apiURL, token := m[1], m[2]
	// The commands use $API and $TOKEN from the banner's export line.
	if !strings.Contains(banner, "\n  export API="+apiURL+" TOKEN="+token+"\n") {
		t.Fatalf("the banner has no export line for API and TOKEN:\n%s", banner)
	}
	expand := strings.NewReplacer("$API", apiURL, "$TOKEN", token)
	sm := regexp.MustCompile(`(?m)^\s+state\s+(\S+)$`).FindStringSubmatch(banner)
	if sm == nil || !strings.HasPrefix(sm[1], tmp) {
		t.Fatalf("the banner has no state line under %s:\n%s", tmp, banner)
	}
	stateDir := filepath.Dir(sm[1])
	p.waitHTTP(t, apiURL+"/readyz", 30*time.Second)

	var curls []string
	var payoutLine, lookupLine, refundLine string
	for _, l := range strings.Split(banner, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "PAY=$("):
			lookupLine = l
		case strings.HasPrefix(l, "curl ") && strings.Contains(l, "/v1/payouts"):
			payoutLine = l
		case strings.HasPrefix(l, "curl ") && strings.Contains(l, "$PAY"):
			refundLine = l
		case strings.HasPrefix(l, "curl "):
			curls = append(curls, l)
		}
	}
	if payoutLine == "" || lookupLine == "" || refundLine == "" {
		t.Fatalf("the banner lacks the payout or the refund lines:\n%s", banner)
	}
	type started struct{ id, ref, provider string }
	var posts []started
	for _, line := range curls {
		req, err := parseCurl(expand.Replace(line))
		if err != nil {
			t.Fatalf("banner curl line: %v", err)
		}
		if !strings.HasPrefix(req.url, apiURL+"/") || !strings.Contains(line, "Bearer $TOKEN") {
			t.Errorf("curl line does not use the banner's API and token: %s", line)
		}
		var body []byte
		if req.method == http.MethodPost {
			body = []byte(req.body)
		}
		code, resp := httpDo(t, req.method, req.url, req.headers, body)
		switch req.method {
		case http.MethodPost:
			var pay payment
			if code != http.StatusCreated || json.Unmarshal(resp, &pay) != nil || !startedStatus(pay.Status) {
				t.Fatalf("%s\nanswered %d %s; want 201 pending (or already settled)", line, code, resp)
			}
			posts = append(posts, started{pay.ID, pay.Reference, pay.Provider})
		default:
			if code != http.StatusOK {
				t.Errorf("%s\nanswered %d %s", line, code, resp)
			}
		}
	}
	if len(posts) != 3 {
		t.Fatalf("the banner started %d payments, want one per provider:\n%s", len(posts), banner)
	}
	for _, s := range posts {
		want := fmt.Sprintf("event sink: payment.succeeded %s reference %s (%s) - signature verified", s.id, s.ref, s.provider)
		p.waitOutput(t, want, 30*time.Second)
	}

	// The payout and refund lines, pasted once the payments succeeded.
	moneyOut := func(line string) map[string]any {
		t.Helper()
		req, err := parseCurl(expand.Replace(line))
		if err != nil {
			t.Fatalf("banner curl line: %v", err)
		}
		code, resp := httpDo(t, req.method, req.url, req.headers, []byte(req.body))
		var got map[string]any
		if code != http.StatusCreated || json.Unmarshal(resp, &got) != nil {
			t.Fatalf("%s\nanswered %d %s; want 201", line, code, resp)
		}
		return got
	}
	po := moneyOut(payoutLine)
	// PAY=$(curl ... | grep -o 'pay_[a-z0-9]*' | head -n 1): run the curl, then the grep.
	inner, _, ok := strings.Cut(strings.TrimPrefix(lookupLine, "PAY=$("), " | grep -o 'pay_[a-z0-9]*' | head -n 1)")
	if !ok {
		t.Fatalf("unexpected lookup line %q", lookupLine)
	}
	lreq, err := parseCurl(expand.Replace(inner))
	if err != nil {
		t.Fatalf("lookup line: %v", err)
	}
	_, list := httpDo(t, lreq.method, lreq.url, lreq.headers, nil)
	payID := regexp.MustCompile(`pay_[a-z0-9]*`).FindString(string(list))
	if payID == "" {
		t.Fatalf("the lookup found no payment: %s", list)
	}
	rf := moneyOut(strings.ReplaceAll(refundLine, "$PAY", payID))
	p.waitOutput(t, fmt.Sprintf("event sink: payout.succeeded %s reference DEMOPAYOUT1 (clickpesa.tz) - signature verified", po["id"]), 30*time.Second)
	p.waitOutput(t, fmt.Sprintf("event sink: refund.succeeded %s reference DEMOREFUND1 (clickpesa.tz) - signature verified", rf["id"]), 30*time.Second)
	p.waitOutput(t, fmt.Sprintf("event sink: payment.partially_refunded %s reference DEMOCLICKPESA1 (clickpesa.tz) - signature verified", payID), 30*time.Second)

	if out := p.output(); strings.Contains(out, "signature not verified") {
		t.Errorf("the dev sink rejected a signature")
	} else if n := strings.Count(out, "signature verified"); n != len(posts)+3 {
		t.Errorf("the dev sink reported %d events, want each of the %d payments' and the payout's, refund's and refunded payment's once", n, len(posts))
	}
	for _, args := range [][]string{{"payouts", "list", "-dev"}, {"audit", "-dev"}} {
		if r := runCLI(t, env, args...); r.code != 0 || !strings.Contains(r.stdout, "DEMOPAYOUT1") && !strings.Contains(r.stdout, "refund.create") {
			t.Errorf("%v:\n%s", args, r)
		}
	}
	// The CLI reads the running daemon's store with -dev.
	r := runCLI(t, env, "payments", "list", "-dev")
	for _, s := range posts {
		if r.code != 0 || !strings.Contains(r.stdout, s.id) {
			t.Fatalf("payments list -dev: exit %d, lacks %s\n%s%s", r.code, s.id, r.stdout, r.stderr)
		}
	}

	p.signal(t, syscall.SIGINT)
	if code := p.waitExit(t, 30*time.Second); code != 0 {
		t.Fatalf("serve -dev exited %d after Ctrl-C, want 0", code)
	}
	if _, err := os.Stat(stateDir); !os.IsNotExist(err) {
		t.Errorf("the temporary state %s is still there after stop (%v)", stateDir, err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "finconnectd", "dev-state")); !os.IsNotExist(err) {
		t.Errorf("serve -dev left its store record behind (%v)", err)
	}
}
