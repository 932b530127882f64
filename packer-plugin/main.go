// Command packer-plugin-bootapp is the bootapp Packer plugin. It registers
// the bootapp builder under the plugin's default name, so that templates say
// `source "bootapp" "web" { ... }`, and the post-processor "ami", which
// templates call `post-processor "bootapp-ami" { ... }`.
//
// The binary talks to Packer over stdout (the `describe` output and the RPC
// handshake), so nothing in the plugin may print to stdout: messages go to
// the Packer UI or, for failures before Packer is connected, to stderr.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/packer-plugin-sdk/plugin"

	"github.com/bootapp/bootapp/packer-plugin/builder/bootapp"
	"github.com/bootapp/bootapp/packer-plugin/post-processor/ami"
	"github.com/bootapp/bootapp/packer-plugin/version"
)

func main() {
	pps := plugin.NewSet()
	pps.RegisterBuilder(plugin.DEFAULT_NAME, new(bootapp.Builder))
	pps.RegisterPostProcessor("ami", new(ami.PostProcessor))
	pps.SetVersion(version.PluginVersion)
	if err := pps.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
