/** Bytes that are not what they claim to be (corrupt Arrow, a CSV value of the wrong type, ...). */
export class DataFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataFormatError";
  }
}

/** A filter that does not parse or does not fit the table; `position` is a 0-based offset. */
export class FilterSyntaxError extends Error {
  constructor(
    readonly detail: string,
    readonly position: number,
  ) {
    super(`${detail} at position ${position}`);
    this.name = "FilterSyntaxError";
  }
}
