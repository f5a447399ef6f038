api {
  token "shop" {
    value  = env("SHOP_TOKEN")
    scopes = [] # ERROR: No scopes
  }
  token "ops" {
    value  = env("FINANCE_TOKEN")
    scopes = ["console:read", "console:read"] # ERROR: Duplicate scope
  }
  token "finance" { # ERROR: Missing required argument
    value = env("OPS_TOKEN")
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
