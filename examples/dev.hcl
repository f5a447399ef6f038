# Development against the emulator, with a configuration file you can edit
# (`finconnectd serve -dev` needs none). From the repository root, after
# `make build`, in one terminal:
#
#   bin/finconnectd sandbox -listen 127.0.0.1:9999 \
#     -clickpesa-webhook http://127.0.0.1:8080/hooks/clickpesa \
#     -azampay-callback http://127.0.0.1:8080/hooks/azampay \
#     -clickpesa-checksum-key dev-checksum-key
#
# and in another:
#
#   bin/finconnectd apply -config examples/dev.hcl -auto-approve   # registers ipn "dev" at the emulator
#   bin/finconnectd serve -config examples/dev.hcl
#
# The webhook and callback flags are the emulator's stand-in for the URLs a
# merchant sets in ClickPesa's dashboard and AzamPay's portal: without them
# those two never notify (sync still settles ClickPesa payments). The
# checksum key must be the provider block's checksum_key, or ClickPesa
# webhooks are refused. PesaPal needs no flag: the IPN URL is registered by
# apply. Events go to http://127.0.0.1:9000/events; receive and verify them
# with, in a third terminal:
#
#   FINCONNECT_LISTEN_SECRET=whsec_ZGV2LXdlYmhvb2stc2VjcmV0LWRldi13ZWJob29r \
#     bin/finconnectd listen -listen 127.0.0.1:9000
#
# With no receiver, deliveries are retried and
# `bin/finconnectd events list -config examples/dev.hcl` shows them waiting. The emulator accepts any credential except the literal
# "invalid", so the env() defaults below are enough. The store is dev.db
# beside this file (ignored by git).

state {
  path = "dev.db"
}

server {
  listen     = "127.0.0.1:8080"
  public_url = "http://127.0.0.1:8080"
}

api {
  listen = "127.0.0.1:8081"
  tokens = [env("FINCONNECT_API_TOKEN", "dev-token")]
}

provider "pesapal" "dev" {
  environment     = "sandbox"
  consumer_key    = env("PESAPAL_CONSUMER_KEY", "dev")
  consumer_secret = env("PESAPAL_CONSUMER_SECRET", "dev")
  base_url        = "http://127.0.0.1:9999/pesapal"
}

provider "clickpesa" "dev" {
  environment  = "sandbox"
  client_id    = env("CLICKPESA_CLIENT_ID", "dev")
  api_key      = env("CLICKPESA_API_KEY", "dev")
  checksum_key = env("CLICKPESA_CHECKSUM_KEY", "dev-checksum-key")
  base_url     = "http://127.0.0.1:9999/clickpesa"
}

provider "azampay" "dev" {
  environment   = "sandbox"
  app_name      = "finconnect-dev"
  client_id     = env("AZAMPAY_CLIENT_ID", "dev")
  client_secret = env("AZAMPAY_CLIENT_SECRET", "dev")
  api_key       = env("AZAMPAY_API_KEY", "dev")
  auth_url      = "http://127.0.0.1:9999/azampay-auth"
  base_url      = "http://127.0.0.1:9999/azampay"
}

ipn "dev" {
  provider          = provider.pesapal.dev
  url               = "http://127.0.0.1:8080/hooks/pesapal"
  notification_type = "POST"
}

route "pesapal" {
  provider = provider.pesapal.dev
  path     = "/hooks/pesapal"

  forward {
    url    = "http://127.0.0.1:9000/events"
    secret = env("DEV_WEBHOOK_SECRET", "whsec_ZGV2LXdlYmhvb2stc2VjcmV0LWRldi13ZWJob29r")
  }
}

route "clickpesa" {
  provider = provider.clickpesa.dev
  path     = "/hooks/clickpesa"

  forward {
    url    = "http://127.0.0.1:9000/events"
    secret = env("DEV_WEBHOOK_SECRET", "whsec_ZGV2LXdlYmhvb2stc2VjcmV0LWRldi13ZWJob29r")
  }
}

route "azampay" {
  provider = provider.azampay.dev
  path     = "/hooks/azampay"

  forward {
    url    = "http://127.0.0.1:9000/events"
    secret = env("DEV_WEBHOOK_SECRET", "whsec_ZGV2LXdlYmhvb2stc2VjcmV0LWRldi13ZWJob29r")
  }
}

payouts {
  limit "TZS" {
    max_per_payout = "500000"
    max_per_24h    = "2000000"
  }
}

schedule "sync_payments" { cron = "@every 10s" }
