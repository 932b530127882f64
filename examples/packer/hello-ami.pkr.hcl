# Builds examples/hello with the bootapp builder and publishes it as an AMI
# with the bootapp-ami post-processor: the raw boot disk goes straight into
# an EBS snapshot through the EBS direct APIs (only the blocks holding data)
# and is registered with boot mode uefi and ENA support. No S3 bucket, no
# VM Import (EC2's ImportImage, what amazon-import calls, rejects images
# without a Linux distribution's layout).
#
#   CGO_ENABLED=0 go build -o hello ./examples/hello
#   packer build -var app_path=hello -var region=eu-central-1 examples/packer/hello-ami.pkr.hcl
#
# Credentials come from the AWS SDK's chain (AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY, AWS_PROFILE or profile, SSO, an instance role).
# The manifest post-processor records the AMI as "REGION:AMI_ID".

packer {
  required_plugins {
    bootapp = {
      version = ">= 0.1.0"
      source  = "github.com/bootapp/bootapp"
    }
  }
}

variable "app_path" {
  type    = string
  default = "hello"
}

variable "kernel_path" {
  type        = string
  default     = ""
  description = "A linux-image-*-cloud-amd64 .deb; empty picks the newest in bootapp's cache."
}

variable "bootloader_path" {
  type        = string
  default     = ""
  description = "A systemd-boot-efi .deb; empty picks the newest in bootapp's cache."
}

variable "output_directory" {
  type    = string
  default = "output-hello-ami"
}

variable "region" {
  type        = string
  default     = ""
  description = "AWS region; empty uses AWS_REGION or the profile's."
}

variable "endpoint" {
  type        = string
  default     = ""
  description = "Endpoint URL of EC2 and EBS; empty means AWS's (set for a test server)."
}

variable "ami_name" {
  type        = string
  default     = ""
  description = "AMI name; empty gives hello-<first 12 hex digits of the boot disk's sha256>."
}

source "bootapp" "hello" {
  app_path = var.app_path
  env = {
    DATA_DIR = "/data"
  }
  ports   = [8080]
  restart = "on-failure"

  image_name       = "hello"
  kernel_path      = var.kernel_path
  bootloader_path  = var.bootloader_path
  output_directory = var.output_directory
  formats          = ["raw"]
  platform         = "aws"
  data_volume_size = "1G"
}

build {
  sources = ["source.bootapp.hello"]

  post-processors {
    post-processor "bootapp-ami" {
      region              = var.region
      endpoint            = var.endpoint
      ami_name            = var.ami_name
      ami_description     = "hello, built by bootapp"
      publish_data_volume = true
      tags = {
        app = "hello"
      }
    }
    post-processor "manifest" {
      output = "${var.output_directory}/packer-manifest.json"
    }
  }
}
