// Package awstest is a small, in-process stand-in for the parts of AWS that
// bootapp's AMI publisher (builder/publish/aws) calls, for tests only: the
// EBS direct APIs (REST-JSON) and a handful of EC2 actions (Query protocol,
// XML responses). No AWS emulator can be installed on the test machines
// (moto and LocalStack come from PyPI), so this one was written from AWS's
// published API reference; it shares no code with any SDK.
//
// One Server answers both services on one 127.0.0.1 address. Requests are
// told apart by the service in their SigV4 credential scope ("ebs" or
// "ec2"), and every request must carry a valid AWS Signature Version 4
// made with the server's fixed key pair (AccessKeyID, SecretAccessKey), for
// the server's region, within 15 minutes of the server's clock; otherwise
// it is refused as AWS refuses it (403 with SignatureDoesNotMatch,
// UnrecognizedClientException or InvalidClientTokenId).
//
// EBS direct APIs, with the documented rules:
//
//   - StartSnapshot (POST /snapshots): VolumeSize 1 to 65536 GiB, an
//     idempotent ClientToken, Tags, Description; the snapshot is pending.
//   - PutSnapshotBlock (PUT /snapshots/{id}/blocks/{index}): the snapshot
//     must be pending, the index inside the volume, x-amz-Data-Length
//     524288 and equal to the body's length, x-amz-Checksum-Algorithm
//     SHA256 and x-amz-Checksum the base64 SHA-256 of the body.
//   - CompleteSnapshot (POST /snapshots/completion/{id}):
//     x-amz-ChangedBlocksCount must equal the number of distinct blocks
//     written; the snapshot becomes completed (after CompletionDelay).
//   - ListSnapshotBlocks and GetSnapshotBlock read a completed snapshot
//     back (block tokens, checksums).
//
// EC2 actions: RegisterImage (snapshot-backed, with BootMode, EnaSupport,
// Architecture, RootDeviceName, VirtualizationType, ImdsSupport,
// BlockDeviceMapping, TagSpecification), DescribeImages (ImageId, Owner,
// name filters), DeregisterImage, DescribeSnapshots and DeleteSnapshot
// (refused with InvalidSnapshot.InUse while an image uses the snapshot).
//
// Faults are injected with Server.Fault, called before every request is
// handled: return an *Error to answer with it instead (throttling with
// RequestThrottledException or RequestLimitExceeded, a 5xx, or a hard
// failure in the middle of an upload).
package awstest
