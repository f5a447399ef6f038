api {
  token "finance" {
    value  = env("FINANCE_TOKEN")
    scopes = ["payouts"]
  }
}

provider "azampay" "tz" {
  environment          = "sandbox"
  app_name             = "shop"
  client_id            = env("KEY")
  client_secret        = env("KEY")
  api_key              = env("KEY")
  disbursement_key     = env("KEY") # ERROR: Invalid disbursement key
  disbursement_account = "255700000001"
  disbursement_wallet  = "mpesa" # ERROR: Invalid disbursement_wallet
}

provider "azampay" "other" { # ERROR: Incomplete disbursement settings
  environment          = "sandbox"
  app_name             = "shop"
  client_id            = env("KEY")
  client_secret        = env("KEY")
  api_key              = env("KEY")
  disbursement_account = "255700000001"
}
