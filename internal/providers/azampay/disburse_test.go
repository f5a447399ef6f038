package azampay

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"testing"
)

// TestDisbursementChecksum: the checksum decrypts, with the private half
// of the key, to SHA-512 of the input, and two checksums of one input
// differ (PKCS#1 v1.5 encryption is randomised); a PKIX or PKCS#1 PEM key
// is read, anything else refused.
func TestDisbursementChecksum(t *testing.T) {
	t.Parallel()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	for _, p := range []string{
		string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&priv.PublicKey)})),
	} {
		if _, err := ParseDisbursementKey(p); err != nil {
			t.Errorf("parse %q: %v", p[:30], err)
		}
	}
	if _, err := ParseDisbursementKey("not a key"); err == nil {
		t.Error("a non-PEM key was accepted")
	}
	const input = "255700000001255688123821TZS8500001788249600PO-260901-0001"
	a, err := DisbursementChecksum(&priv.PublicKey, input)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DisbursementChecksum(&priv.PublicKey, input)
	if a == b {
		t.Error("two checksums of one input are equal: the padding is not randomised")
	}
	enc, _ := base64.StdEncoding.DecodeString(a)
	got, err := rsa.DecryptPKCS1v15(nil, priv, enc)
	want := sha512.Sum512([]byte(input))
	if err != nil || string(got) != string(want[:]) {
		t.Errorf("the checksum does not decrypt to SHA-512 of the input (%v)", err)
	}
}

func TestMapDisbursementStatusAndAmount(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"SUCCESS": DisbursementSucceeded, "Transaction successful.": DisbursementSucceeded, "complete": DisbursementSucceeded,
		"FAILED": DisbursementFailed, "fail": DisbursementFailed, "PENDING": DisbursementPending, "": DisbursementPending, "PROCESSING": DisbursementPending,
	} {
		if got := MapDisbursementStatus(in); got != want {
			t.Errorf("MapDisbursementStatus(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{"850000": "850000", "850000.00": "850000", "1000.50": "1000.5", "0.25": "0.25"} {
		if got, err := wholeAmount(in); err != nil || got != want {
			t.Errorf("wholeAmount(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := wholeAmount("-1"); err == nil {
		t.Error("a negative amount was accepted")
	}
}
