api {
  token "shop" {
    value  = env("EMPTY_TOKEN") # ERROR: Empty credential
    scopes = ["payments"]
  }
  token "ops" { # ERROR: Missing required argument
    scopes = ["console:read"]
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
