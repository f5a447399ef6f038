api {
  tokens = [env("TOKEN")]
}

provider "pesapal" "ke" {
  environment     = "sandbox"
  consumer_key    = env("KEY")
  consumer_secret = env("KEY")
}

route "pesapal" { # ERROR: Missing forward block
  provider = provider.pesapal.ke
  path     = "/hooks/pesapal"
}
