// Command app is Berth's user interface, compiled to WebAssembly and run by the browser.
package main

import (
	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/ui"
)

func main() {
	ui.Routes()
	app.RunWhenOnBrowser()
}
