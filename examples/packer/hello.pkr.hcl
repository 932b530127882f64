# Builds examples/hello into a bootable VM image with the bootapp Packer
# builder, then records a manifest, shows the image with qemu-img and writes
# SHA-256 checksums of every output file.
#
#   CGO_ENABLED=0 go build -o hello ./examples/hello
#   packer build -var app_path=hello examples/packer/hello.pkr.hcl
#
# The kernel and systemd-boot packages default to the newest ones in bootapp's
# cache (mkbootapp fetch); set kernel_path / bootloader_path to use others, or
# kernel_url + kernel_checksum to have Packer download and cache the kernel.

packer {
  required_plugins {
    bootapp = {
      version = ">= 0.1.0"
      source  = "github.com/bootapp/bootapp"
    }
  }
}

variable "app_path" {
  type        = string
  default     = "hello"
  description = "The static Linux executable to boot (CGO_ENABLED=0 go build ./examples/hello)."
}

variable "kernel_path" {
  type        = string
  default     = ""
  description = "A linux-image-*-cloud-amd64 .deb; empty picks the newest in bootapp's cache."
}

variable "kernel_url" {
  type        = string
  default     = ""
  description = "URL of a kernel .deb to download instead of kernel_path."
}

variable "kernel_checksum" {
  type        = string
  default     = ""
  description = "Checksum of the file at kernel_url, \"sha256:<hex>\"."
}

variable "bootloader_path" {
  type        = string
  default     = ""
  description = "A systemd-boot-efi .deb; empty picks the newest in bootapp's cache."
}

variable "verify" {
  type        = bool
  default     = false
  description = "Boot the built image in QEMU and wait for the health check before accepting it."
}

variable "output_directory" {
  type    = string
  default = "output-hello"
}

source "bootapp" "hello" {
  app_path = var.app_path
  args     = []
  env = {
    DATA_DIR = "/data"
  }
  ports        = [8080]
  stop_timeout = "10s"
  restart      = "on-failure"

  image_name      = "hello"
  kernel_path     = var.kernel_path
  kernel_url      = var.kernel_url
  kernel_checksum = var.kernel_checksum
  bootloader_path = var.bootloader_path

  output_directory = var.output_directory
  formats          = ["raw"]
  compression      = "zstd"

  data_volume_size        = "256M"
  data_volume_label       = "bootapp-data"
  data_volume_mount_point = "/data"
  data_volume_formats     = ["raw"]

  health_check {
    port    = 8080
    path    = "/healthz"
    timeout = "2m"
  }
  verify = var.verify
}

build {
  sources = ["source.bootapp.hello"]

  post-processors {
    post-processor "manifest" {
      output     = "${var.output_directory}/packer-manifest.json"
      strip_path = false
      custom_data = {
        kernel_release = "${build.KernelRelease}"
        boot_sha256    = "${build.BootDiskSHA256}"
      }
    }
    post-processor "shell-local" {
      inline = [
        "qemu-img info '${build.BootDisk}' > '${var.output_directory}/qemu-img-info.txt'",
        "echo 'boot disk ${build.BootDisk} (kernel ${build.KernelRelease}), data volume ${build.DataVolume}'",
      ]
    }
    post-processor "checksum" {
      checksum_types = ["sha256"]
      output         = "${var.output_directory}/{{.ChecksumType}}.checksum"
    }
  }
}
