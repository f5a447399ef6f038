api {
  tokens = [env("TOKEN")]
}

provider "pesapal" "ke" {
  environment = "sandbox
}
