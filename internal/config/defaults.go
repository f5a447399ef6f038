package config

import "time"

// Every default of the configuration language lives here.

// The providers' documented base URLs (docs/providers/*.md).
const (
	pesapalSandboxURL     = "https://cybqa.pesapal.com/pesapalv3"
	pesapalLiveURL        = "https://pay.pesapal.com/v3"
	clickpesaLiveURL      = "https://api.clickpesa.com/third-parties"
	azampayAuthSandboxURL = "https://authenticator-sandbox.azampay.co.tz"
	azampayAuthLiveURL    = "https://authenticator.azampay.co.tz"
	azampaySandboxURL     = "https://sandbox.azampay.co.tz"
	azampayLiveURL        = "https://checkout.azampay.co.tz"
	// AzamPay's disbursement hosts (it publishes the sandbox one only).
	azampayDisburseSandboxURL = "https://api-disbursement-sandbox.azampay.co.tz"
	azampayDisburseLiveURL    = "https://api-disbursement.azampay.co.tz"
	azampayPublicKeyPath      = "/azampay/v1/public-key?format=Pem"
)

// Environments.
const (
	EnvSandbox = "sandbox"
	EnvLive    = "live"
)

// A route's forward.concurrency: how many of its deliveries are POSTed at
// once, by default and at most.
const (
	DefaultForwardConcurrency = 16
	MaxForwardConcurrency     = 64
)

const (
	defaultStateBackend     = "sqlite"
	defaultStateFile        = "finconnect.db"
	defaultServerListen     = ":8080"
	defaultAPIListen        = "127.0.0.1:8081"
	defaultAccessLog        = "info"
	defaultForwardTimeout   = 10 * time.Second
	defaultRetryMaxAttempts = 15
	defaultRetryMaxAge      = 72 * time.Hour
	defaultNotificationType = "POST"
	defaultChecksumMethod   = "canonical"
	defaultPhoneFormat      = "local"
	defaultClickPesaEnv     = EnvLive

	maxRetryAttempts = 100
	// maxFileSize bounds what file() reads.
	maxFileSize = 1 << 20
	// maxConfigFileSize bounds a configuration file.
	maxConfigFileSize = 4 << 20
)

// DefaultSchedules are the daemon's schedules when no schedule block names them.
func DefaultSchedules() Schedules {
	return Schedules{
		Reconcile:    "*/15 * * * *",
		RefreshKeys:  "@hourly",
		SyncPayments: "@every 1m",
	}
}

// defaultBaseURLs returns the documented URLs of a provider kind in an
// environment: base (and, for AzamPay, auth). ok is false when the provider
// has no such environment (ClickPesa sandbox).
func defaultBaseURLs(kind, env string) (base, auth string, ok bool) {
	switch kind {
	case KindPesaPal:
		if env == EnvLive {
			return pesapalLiveURL, "", true
		}
		return pesapalSandboxURL, "", true
	case KindClickPesa:
		if env == EnvLive {
			return clickpesaLiveURL, "", true
		}
		return "", "", false
	case KindAzamPay:
		if env == EnvLive {
			return azampayLiveURL, azampayAuthLiveURL, true
		}
		return azampaySandboxURL, azampayAuthSandboxURL, true
	}
	return "", "", false
}

// AccessLogLevels are the values of api.access_log.
func AccessLogLevels() []string { return []string{"debug", "info", "warn", "off"} }
