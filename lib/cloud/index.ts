/** EC2 access (§4.3): the only module that knows EC2's shapes. */
export { capacityKey, capacityKeysFor } from "./capacity-key.js";
export {
  type ClassifyContext,
  classifyEc2Error,
  type Ec2ApiFault,
  ec2ApiFault,
  isErrorCapacity,
  isErrorQuota,
  isErrorSubnetSpecific,
  isThrottleError,
  nextThrottleDelayMs,
  throttleDelayMaxMs,
  throttleDelayMinMs,
} from "./classify.js";
export { createEc2Client, type Ec2ClientOptions } from "./client.js";
export { type ClientTokenParts, clientToken, maxClientTokenLength } from "./client-token.js";
export {
  type CapacityScope,
  Ec2CapacityError,
  Ec2Error,
  type Ec2ErrorFacts,
  type Ec2Fault,
  Ec2QuotaError,
  Ec2ThrottleError,
} from "./errors.js";
export { formatGoFloat } from "./go-float.js";
export {
  buildCreateTagsInput,
  buildDescribeInstancesInput,
  type CloudInstance,
  createTags,
  type ListInstancesArgs,
  listInstances,
  type TerminatedInstance,
  type TerminateResult,
  terminateBatchSize,
  terminateInstances,
} from "./instances.js";
export {
  type LaunchAttemptObserver,
  type LaunchOptions,
  type LaunchResult,
  type LaunchState,
  launchInstance,
} from "./launch.js";
export { buildRunInstancesInput, type LaunchConfig, type RunInstancesArgs } from "./run-instances-input.js";
export { type InstanceTagKeys, type InstanceTagValues, instanceTagKeys, instanceTags, tagRecord, volumeTags } from "./tags.js";
export { buildUserData, shellQuote, type UserDataArgs, UserDataError } from "./user-data.js";
export {
  type BootDeployment,
  checkUserDataFits,
  instanceSecretLength,
  type LargestUserData,
  type LaunchValues,
  largestUserData,
  launchUserData,
  longestBootDeployment,
  maxUserDataBytes,
  type UserDataPart,
  UserDataTooLargeError,
} from "./launch-user-data.js";
