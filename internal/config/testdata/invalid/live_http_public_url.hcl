api {
  tokens = [env("TOKEN")]
}

server {
  public_url = "http://pay.example.com" # ERROR: Plain http with a live provider
}

provider "pesapal" "ke" {
  environment     = "live"
  consumer_key    = env("KEY")
  consumer_secret = env("KEY")
}
