// Domain errors of the validator role: registry, uploads, reads; mapped to Connect codes in rpc/validator.ts.

/** Base class of every validator error. */
export class ValidatorError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ValidatorError";
  }
}

/** A request field is missing or out of range (`field` names it). */
export class BadRequestError extends ValidatorError {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = "BadRequestError";
    this.field = field;
  }
}

/** The caller may not do this (e.g. register another node's id). */
export class NotAllowedError extends ValidatorError {
  constructor(message: string) {
    super(message);
    this.name = "NotAllowedError";
  }
}

/** The registry holds as many members as it may. */
export class RegistryFullError extends ValidatorError {
  readonly max: number;
  constructor(max: number) {
    super(`the registry is full (${max} members); no new member can register`);
    this.name = "RegistryFullError";
    this.max = max;
  }
}

/** No committed file with this hash. */
export class FileNotFoundError extends ValidatorError {
  readonly hash: string;
  constructor(hash: string) {
    super(`file ${hash} not found`);
    this.name = "FileNotFoundError";
    this.hash = hash;
  }
}

/** The epoch asked for is not among the kept maps. */
export class EpochNotKeptError extends ValidatorError {
  readonly epoch: number;
  constructor(epoch: number, oldest: number, newest: number) {
    super(`epoch ${epoch} is not kept: the validator keeps epochs ${oldest}..${newest} (cluster.epoch_history)`);
    this.name = "EpochNotKeptError";
    this.epoch = epoch;
  }
}

/** An upload could not be committed; nothing was committed (pushed shards are collected as orphans). */
export class UploadFailedError extends ValidatorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`upload failed, nothing committed: ${message}`, options);
    this.name = "UploadFailedError";
  }
}

/** The uploaded bytes do not hash to the declared file hash, or their size differs; nothing was committed. */
export class UploadMismatchError extends ValidatorError {
  constructor(message: string) {
    super(`${message}; nothing committed`);
    this.name = "UploadMismatchError";
  }
}

/** Another upload of the same file is running. */
export class UploadBusyError extends ValidatorError {
  constructor(hash: string) {
    super(`an upload of ${hash} is already in progress; retry when it has finished`);
    this.name = "UploadBusyError";
  }
}

/** The stored cluster parameters differ from the config while files depend on them. */
export class ClusterParamsError extends ValidatorError {
  constructor(message: string) {
    super(message);
    this.name = "ClusterParamsError";
  }
}

/** The requested byte range does not overlap the file. */
export class FileRangeError extends ValidatorError {
  readonly size: number;
  constructor(offset: number, size: number) {
    super(`offset ${offset} is past the end of the file (${size} bytes)`);
    this.name = "FileRangeError";
    this.size = size;
  }
}

/** Too many WatchClusterMap streams are open. */
export class WatchersFullError extends ValidatorError {
  constructor(max: number) {
    super(`too many WatchClusterMap streams are open (${max}); retry later`);
    this.name = "WatchersFullError";
  }
}
