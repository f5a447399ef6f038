api {
  token "shop" {
    value  = env("SHOP_TOKEN")
    scopes = ["payments"]
  }
  token "shop" { # ERROR: Duplicate token
    value  = env("FINANCE_TOKEN")
    scopes = ["payments", "refunds"]
  }
}

provider "pesapal" "ke" {
  environment     = "sandbox"
  consumer_key    = env("KEY")
  consumer_secret = env("KEY")
}

route "pesapal" {
  provider = provider.pesapal.ke
  path     = "/hooks/pesapal"

  forward {
    url    = "http://127.0.0.1:9000/events"
    secret = env("WEBHOOK_SECRET")
  }
}
