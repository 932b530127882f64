// Package aws publishes a bootapp build as an Amazon Machine Image without
// S3 and without VM Import.
//
// EC2's ImportImage (what Packer's amazon-import post-processor calls)
// inspects and rewrites the guest and rejects a bootapp image, which has no
// distribution layout ("Unknown OS / Missing OS files"). Publish instead
// writes the raw boot disk straight into a new EBS snapshot with the EBS
// direct APIs and registers an AMI from it:
//
//  1. Checks that need no cloud: the build's raw boot disk exists, has the
//     size the manifest records and is at most 64 TiB (StartSnapshot's
//     limit); the options are well formed. Then the credentials are
//     resolved (the SDK's chain: the environment, the shared config and
//     credentials files with profiles and SSO, the instance role through
//     IMDS) and EC2 is asked whether an AMI of that name exists.
//  2. StartSnapshot with the disk's size rounded up to a GiB, then one
//     PutSnapshotBlock per 512 KiB block that holds data: the file's data
//     extents come from image/sparse (holes are never read), all-zero
//     blocks are skipped, each block carries its base64 SHA-256, and
//     several are in flight. The boot disk's SHA-256 is computed on the way
//     and compared with the manifest's before the snapshot is sealed with
//     CompleteSnapshot (ChangedBlocksCount = the blocks sent).
//  3. When the snapshot is completed, RegisterImage: x86_64, hvm, boot mode
//     uefi (the ESP holds only \EFI\BOOT\BOOTX64.EFI), ENA support (Nitro),
//     IMDSv2 only, root device /dev/xvda mapped to the snapshot (gp3,
//     deleted on termination), with a name, description and tags; then wait
//     until the image is available.
//  4. Optionally the fresh data volume becomes a snapshot of its own, for a
//     first deployment (create the instance's data volume from it once;
//     the image does not map it, so the data survives boot disk updates).
//  5. The result is written to NAME.aws.json beside the build's manifest.
//
// Throttling (RequestThrottledException, RequestLimitExceeded, ...) and 5xx
// answers are retried with exponential backoff and jitter (Options.MaxAttempts,
// Options.MaxBackoff). On any failure, or when ctx is cancelled, Publish
// deregisters the image and deletes the snapshots it created, and its error
// says what it deleted (or what it could not).
//
// Errors about an option are *OptionError values naming the option by its
// field name here ("region", "name", "profile"), so that a front door can
// word them with its own flag or setting; ErrNoCredentials, ErrCredentials
// and ErrInput are matched with errors.Is.
//
// Publishing was tested against internal/awstest, a local stand-in written
// from AWS's API reference, not against AWS itself.
package aws
