route "pesapal" {
  provider = provider.pesapal.ke
  path     = "/hooks/pesapal"

  forward {
    url     = "http://127.0.0.1:9000/events"
    secret  = env("WEBHOOK_SECRET")
    timeout = "ten seconds" # 3: not a duration
  }
}

route "azampay" {
  provider = provider.azampay.tz # 4: no such provider
  path     = "/hooks/azampay"

  forward {
    url    = "http://127.0.0.1:9000/events"
    secret = env("WEBHOOK_SECRET")
  }
}

schedule "reconcile" {
  cron = "every 15 minutes" # 5: not a cron spec
}
