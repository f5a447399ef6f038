package reconcile

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// Resource types.
const (
	TypeIPN = "ipn"
	TypeKey = "key"
)

// KeyMaxAge is how old a fetched public key may get before plan refreshes it.
const KeyMaxAge = 24 * time.Hour

// IPNAddress is the state address of an ipn block: "ipn.NAME".
func IPNAddress(name string) string { return TypeIPN + "." + name }

// AzamPayKeyAddress is the state address of an AzamPay provider's public
// key: "key.azampay.NAME".
func AzamPayKeyAddress(providerName string) string {
	return TypeKey + ".azampay." + strings.TrimPrefix(providerName, "azampay.")
}

// IPNAttributes are the attributes of an "ipn.NAME" resource in state.
type IPNAttributes struct {
	Provider         string `json:"provider"` // provider ID, "pesapal.ke"
	IPNID            string `json:"ipn_id"`
	URL              string `json:"url"`
	NotificationType string `json:"notification_type"`
	Status           string `json:"status"` // "active" | "inactive"
	RegisteredAt     string `json:"registered_at"`
}

// KeyAttributes are the attributes of a "key.azampay.NAME" resource. A
// public key is not secret; the daemon verifies callbacks with it.
type KeyAttributes struct {
	Provider     string `json:"provider"`    // provider ID, "azampay.tz"
	Fingerprint  string `json:"fingerprint"` // hex SHA-256 of the DER public key
	FetchedAt    string `json:"fetched_at"`  // RFC 3339, UTC
	PublicKeyPEM string `json:"public_key_pem"`
}

func (a IPNAttributes) toMap() map[string]string {
	return map[string]string{
		"provider":          a.Provider,
		"ipn_id":            a.IPNID,
		"url":               a.URL,
		"notification_type": a.NotificationType,
		"status":            a.Status,
		"registered_at":     a.RegisteredAt,
	}
}

func ipnFromMap(m map[string]string) IPNAttributes {
	return IPNAttributes{
		Provider:         m["provider"],
		IPNID:            m["ipn_id"],
		URL:              m["url"],
		NotificationType: m["notification_type"],
		Status:           m["status"],
		RegisteredAt:     m["registered_at"],
	}
}

func (a KeyAttributes) toMap() map[string]string {
	return map[string]string{
		"provider":       a.Provider,
		"fingerprint":    a.Fingerprint,
		"fetched_at":     a.FetchedAt,
		"public_key_pem": a.PublicKeyPEM,
	}
}

func keyFromMap(m map[string]string) KeyAttributes {
	return KeyAttributes{
		Provider:     m["provider"],
		Fingerprint:  m["fingerprint"],
		FetchedAt:    m["fetched_at"],
		PublicKeyPEM: m["public_key_pem"],
	}
}

// attrMap decodes a state resource's attributes as a flat string map.
func attrMap(r state.Resource) (map[string]string, error) {
	m := map[string]string{}
	if len(r.Attributes) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(r.Attributes, &m); err != nil {
		return nil, fmt.Errorf("decode attributes of %s: %w", r.Address, err)
	}
	return m, nil
}

func ipnStatus(active bool) string {
	if active {
		return "active"
	}
	return "inactive"
}

// parsePublicKey parses a PEM public key (PKIX or PKCS#1) and returns the
// RSA key and the hex SHA-256 of its DER.
func parsePublicKey(pemBytes []byte) (*rsa.PublicKey, string, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, "", errors.New("no PEM block in public key")
	}
	var pub any
	var err error
	switch block.Type {
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	}
	if err != nil {
		return nil, "", fmt.Errorf("parse public key: %w", err)
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, "", fmt.Errorf("public key is %T, want RSA", pub)
	}
	sum := sha256.Sum256(block.Bytes)
	return rsaPub, hex.EncodeToString(sum[:]), nil
}

// IPNID returns the PesaPal ipn_id recorded in state for ipn block name, the
// notification_id of a SubmitOrderRequest. state.ErrNotFound (wrapped) when
// the ipn has not been applied.
func IPNID(ctx context.Context, st state.StateStore, name string) (string, error) {
	addr := IPNAddress(name)
	r, err := st.Resource(ctx, addr)
	if err != nil {
		return "", fmt.Errorf("read %s from state: %w", addr, err)
	}
	m, err := attrMap(r)
	if err != nil {
		return "", err
	}
	if m["ipn_id"] == "" {
		return "", fmt.Errorf("%s has no ipn_id: %w", addr, state.ErrNotFound)
	}
	return m["ipn_id"], nil
}
