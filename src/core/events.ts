/**
 * Why a pushed event was refused. `status` is the HTTP status to answer with (409: a replay of an
 * event already taken); `message` holds no secret.
 */
export class EventRejected extends Error {
  override readonly name = 'EventRejected';
  readonly status: 400 | 401 | 409;

  constructor(status: 400 | 401 | 409, message: string) {
    super(message);
    this.status = status;
  }
}
