package clients

import (
	"strings"
	"testing"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/secret"
)

func testConfig() *config.Config {
	return &config.Config{Providers: []*config.Provider{
		{Kind: "pesapal", Name: "ke", PesaPal: &config.PesaPalConfig{ConsumerKey: secret.New("k"), ConsumerSecret: secret.New("s"), BaseURL: "http://127.0.0.1:9/pesapal"}},
		{Kind: "clickpesa", Name: "tz", ClickPesa: &config.ClickPesaConfig{ClientID: secret.New("i"), APIKey: secret.New("a"), BaseURL: "http://127.0.0.1:9/clickpesa"}},
		{Kind: "azampay", Name: "tz", AzamPay: &config.AzamPayConfig{AppName: "app", ClientID: secret.New("i"), ClientSecret: secret.New("s"), APIKey: secret.New("a"),
			AuthURL: "http://127.0.0.1:9/azampay-auth", BaseURL: "http://127.0.0.1:9/azampay"}},
	}}
}

func TestNew(t *testing.T) {
	s, err := New(testConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.IDs(), ","); got != "azampay.tz,clickpesa.tz,pesapal.ke" {
		t.Fatalf("IDs %s", got)
	}
	for _, id := range s.IDs() {
		p, ok := s.Payer(id)
		if !ok || p == nil {
			t.Fatalf("no payer for %s", id)
		}
		p2, _ := s.Payer(id)
		if p != p2 {
			t.Fatalf("%s: payer not reused", id)
		}
	}
	if s.PesaPal("pesapal.ke") == nil || s.ClickPesa("clickpesa.tz") == nil || s.AzamPay("azampay.tz") == nil {
		t.Fatal("typed accessors")
	}
	if s.PesaPal("clickpesa.tz") != nil || s.AzamPay("pesapal.ke") != nil {
		t.Fatal("typed accessor returned the wrong kind")
	}
	if _, ok := s.Payer("nope.x"); ok {
		t.Fatal("unknown provider")
	}
	var nilSet *Set
	if _, ok := nilSet.Payer("x"); ok || nilSet.PesaPal("x") != nil {
		t.Fatal("nil set")
	}
}

func TestNewErrorsNameTheBlock(t *testing.T) {
	cfg := testConfig()
	cfg.Providers[0].PesaPal.BaseURL = "not a url"
	cfg.Providers[2].AzamPay.ClientSecret = secret.New("")
	_, err := New(cfg, Options{})
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{`provider "pesapal" "ke"`, `provider "azampay" "tz"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
