# finconnectd production configuration: all three providers live.
#
# Secrets never appear here: every credential comes from env() or file().
# examples/finconnectd.env.example lists every variable it reads; check it with
#
#   set -a; . examples/finconnectd.env.example; set +a
#   bin/finconnectd validate -config examples/production.hcl
#
# Installing it under systemd, step by step: docs/operations.md.

state {
  backend = "sqlite"
  path    = "/var/lib/finconnectd/finconnect.db"

  # Several replicas share one PostgreSQL database instead:
  # backend = "postgres"
  # dsn     = env("FINCONNECT_DATABASE_URL")
}

server {
  listen     = ":8080"
  public_url = "https://pay.example.com"
}

api {
  listen = "127.0.0.1:8081"
  tokens = [env("FINCONNECT_API_TOKEN")]
}

# Guardrails of money going out (payouts, refunds paid as payouts). A token
# needs the payouts scope to send payouts and refunds to refund; the audit
# scope reads the trail of every such request (GET /v1/audit).
payouts {
  allowed_phone_prefixes = ["2556", "2557"]

  limit "TZS" {
    max_per_payout = "1000000"
    max_per_24h    = "10000000"
  }

  limit "USD" {
    max_per_24h = 5000
  }
}

provider "pesapal" "ke" {
  environment     = "live"
  consumer_key    = env("PESAPAL_CONSUMER_KEY")
  consumer_secret = env("PESAPAL_CONSUMER_SECRET")
}

provider "clickpesa" "tz" {
  client_id       = env("CLICKPESA_CLIENT_ID")
  api_key         = env("CLICKPESA_API_KEY")
  checksum_key    = env("CLICKPESA_CHECKSUM_KEY")
  checksum_method = "canonical"
}

provider "azampay" "tz" {
  environment   = "live"
  app_name      = "myshop"
  client_id     = env("AZAMPAY_CLIENT_ID")
  client_secret = env("AZAMPAY_CLIENT_SECRET")
  api_key       = env("AZAMPAY_API_KEY")
  phone_format  = "local"
}

# PesaPal notifies these URLs; apply registers them (state: ipn.orders, ipn.subscriptions).
ipn "orders" {
  provider          = provider.pesapal.ke
  url               = "https://pay.example.com/hooks/pesapal"
  notification_type = "POST"
}

ipn "subscriptions" {
  provider          = provider.pesapal.ke
  url               = "https://pay.example.com/hooks/pesapal-subscriptions"
  notification_type = "GET"
}

route "pesapal_orders" {
  provider = provider.pesapal.ke
  path     = "/hooks/pesapal"
  events   = ["payment.succeeded", "payment.failed", "payment.reversed"]

  forward {
    url     = "http://10.0.0.12:9000/payments/events"
    secret  = env("ORDERS_WEBHOOK_SECRET")
    timeout = "10s"
  }

  retry {
    max_attempts = 15
    max_age      = "72h"
  }
}

route "pesapal_subscriptions" {
  provider = provider.pesapal.ke
  path     = "/hooks/pesapal-subscriptions"

  forward {
    url    = "https://billing.internal/finconnect/events"
    secret = env("BILLING_WEBHOOK_SECRET")
    # The billing service takes one request at a time (default: 16 at once).
    concurrency = 1
  }
}

route "clickpesa_tz" {
  provider = provider.clickpesa.tz
  path     = "/hooks/clickpesa"

  forward {
    url    = "http://127.0.0.1:9000/payments/events"
    secret = env("ORDERS_WEBHOOK_SECRET")
  }
}

route "azampay_tz" {
  provider = provider.azampay.tz
  path     = "/hooks/azampay"

  forward {
    url    = "http://127.0.0.1:9000/payments/events"
    secret = env("ORDERS_WEBHOOK_SECRET")
  }

  retry {
    max_attempts = 20
    max_age      = "96h"
  }
}

schedule "reconcile" { cron = "*/15 * * * *" }
schedule "refresh_keys" { cron = "@hourly" }
schedule "sync_payments" { cron = "@every 1m" }
