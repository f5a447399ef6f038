package sandbox

import "net/http"

const (
	checksumCanonical = "canonical"
	checksumLegacy    = "legacy"
)

type clickpesaState struct{}

func (s *clickpesaState) init() {}

func (e *Emulator) routesClickPesa(mux *http.ServeMux) {}
