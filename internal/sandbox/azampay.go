package sandbox

import "net/http"

type azampayState struct{}

func (s *azampayState) init() {}

func (e *Emulator) routesAzamPay(mux *http.ServeMux) {}
