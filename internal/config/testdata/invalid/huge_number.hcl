server {
  listen = tostring(1e99999)
}
