/** Instance types: what a container needs (§2.2–2.4), which types fit (§2.5), packing (§2.6), EC2 quota groups (§4.3). */
export {
  chooseInstanceTypes,
  errInvalidGPUStack,
  errNotConfigured,
  errNotSatisfiable,
  NoSuitableInstanceTypeError,
  type NoSuitableInstanceTypeKind,
  type TypeChoice,
  type TypeChoiceConfig,
} from "./choose.js";
export { containerGPU, gpuStacks, type VersionComparison, versionLess } from "./gpu.js";
export { instanceQuotaGroup } from "./quota-group.js";
export {
  accommodates,
  type ContainerForTypeChoice,
  estimateDockerImageSize,
  estimateScratchSpace,
  instanceResourcesNeeded,
  type RemainingResources,
  type ResourceConfig,
  subtractResources,
} from "./resources.js";
