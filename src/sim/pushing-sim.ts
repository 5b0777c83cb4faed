import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { controlPost, optionalText, requiredText } from './control.js';
import { Counters } from './counters.js';
import { Faults, type PlatformFaultAnswers } from './faults.js';
import { keepBodiesRaw } from './request.js';
import { resetFaultsAndCounters } from './reset.js';
import { Script, type SimTokens } from './tokens.js';
import type { PlatformSim } from './types.js';
import { NO_CALLBACK_URL, PushLog, deliver, seal, xml, type PushCounterNames, type PushRecord, type SealOptions, type Sealed, type WxPush } from './wxbiz-events.js';

/** An app of a platform that pushes to it: its callback settings and where its pushes go. */
export interface PushingApp {
  /** Its id at the platform (the component appid, the suite id): what pushes are encrypted for. */
  readonly id: string;
  secret: string;
  /** The Token pushes are signed with. */
  readonly token: string;
  /** The EncodingAESKey pushes are encrypted with. */
  readonly encodingAESKey: string;
  eventUrl: string | undefined;
}

/** How a {@link PushingSim} is set up by its platform's simulator. */
export interface PushingSimSetup {
  readonly platform: string;
  readonly now: () => number;
  /** The option naming an app in control bodies and errors (`componentAppId`, `suiteId`). */
  readonly appOption: string;
  /** What the platform calls an app, in errors (`component`, `suite`). */
  readonly appNoun: string;
  readonly ticketPushIntervalSeconds: number;
  readonly pushTimeoutMs: number;
  /** The push counters' names. */
  readonly pushCounters: PushCounterNames;
}

/**
 * What the simulators of the third-party platforms (WeChat Open Platform components, WeCom
 * suites) have in common: faults, scripts and counters; the apps, found by id (the first by
 * default); their event URLs and the pushes to them (sealed by the platform's {@link buildPush},
 * delivered, logged in {@link pushes}), a ticket pushed to each every
 * `ticketPushIntervalSeconds`, timers that end with the server; and the control routes
 * `POST event-url`, `POST push-ticket` and `GET pushes`.
 */
export abstract class PushingSim<A extends PushingApp> implements PlatformSim {
  readonly platform: string;
  /** Faults of the token endpoints. */
  readonly faults = new Faults();
  /** Faults of the ticket endpoints. */
  readonly ticketFaults = new Faults();
  readonly counters = new Counters();
  /** Answers ahead of the rules, on the token endpoints. */
  readonly script = new Script();
  /** Answers ahead of the rules, on the ticket endpoints. */
  readonly ticketScript = new Script();
  /** The pushes made, with their answers. */
  readonly pushes: PushLog;
  protected readonly now: () => number;
  /** By {@link PushingApp.id}. */
  protected readonly apps = new Map<string, A>();
  readonly #setup: PushingSimSetup;
  readonly #timers = new Set<NodeJS.Timeout>();

  protected constructor(setup: PushingSimSetup, apps: readonly A[]) {
    this.platform = setup.platform;
    this.now = setup.now;
    this.#setup = setup;
    for (const app of apps) this.apps.set(app.id, app);
    this.pushes = new PushLog(this.counters, setup.pushCounters);
  }

  /** Issues a new ticket for an app and pushes it to the app's event URL now. */
  abstract pushTicket(appId?: string, options?: SealOptions): Promise<PushRecord & { ticket: string }>;

  /** A push as the platform would send it for this app (for crafting, replaying or tampering in tests). */
  abstract buildPush(message: Readonly<Record<string, string | number>>, appId?: string, options?: SealOptions): WxPush;

  /** The platform's routes under its prefix. */
  protected abstract routes(app: FastifyInstance, prefix: string): void;

  /** The platform's own control routes, beside the shared ones. */
  protected abstract controls(scope: FastifyInstance): void;

  /** Every kind of token and code the simulator issues, for {@link revoke} and {@link isValid}. */
  protected abstract issued(): readonly SimTokens[];

  register(app: FastifyInstance): void {
    keepBodiesRaw(app);
    this.routes(app, app.prefix);
    const every = this.#setup.ticketPushIntervalSeconds;
    if (every > 0) {
      const timer = setInterval(() => {
        for (const a of this.apps.values()) if (a.eventUrl !== undefined && this.pushesTickets(a)) void this.pushTicket(a.id);
      }, every * 1000);
      timer.unref();
      this.#timers.add(timer);
    }
    app.addHook('onClose', async () => {
      for (const timer of this.#timers) clearTimeout(timer);
      this.#timers.clear();
    });
  }

  /**
   * Control routes under `/_sim/{platform}/`, each taking an optional app id (default the first):
   * `POST event-url {url}` (`url` null clears it), `POST push-ticket`, `GET pushes`, and the
   * platform's own.
   */
  registerControl(scope: FastifyInstance): void {
    const option = this.#setup.appOption;
    controlPost(scope, '/event-url', (body) => {
      const url = body.url === null ? undefined : requiredText(body, 'url');
      const app = this.app(optionalText(body, option));
      app.eventUrl = url;
      return { [option]: app.id, eventUrl: url ?? null };
    });
    controlPost(scope, '/push-ticket', (body) => this.pushTicket(optionalText(body, option)));
    scope.get('/pushes', async () => ({ pushes: this.pushes.list() }));
    this.controls(scope);
  }

  revoke(token: string): boolean {
    return this.issued().some((tokens) => tokens.revoke(token));
  }

  isValid(token: string): boolean {
    return this.issued().some((tokens) => tokens.isValid(token));
  }

  /** Back to healthy: no fault, no scripted answers, zero counters, no push log. Tokens, tickets and grants stay. */
  reset(): void {
    resetFaultsAndCounters(this);
    this.pushes.clear();
  }

  /** Set (or clear) where an app's events are pushed. */
  setEventUrl(url: string | undefined, appId?: string): void {
    this.app(appId).eventUrl = url;
  }

  /** Rotate an app's secret: the old one is refused from now on. */
  setSecret(secret: string, appId?: string): void {
    this.app(appId).secret = secret;
  }

  /** Whether a fault or a scripted answer took over a token endpoint's answer (the route returns `reply` then). */
  protected async faulted(request: FastifyRequest, reply: FastifyReply, answers: PlatformFaultAnswers): Promise<boolean> {
    return (await this.faults.apply(request, reply, answers)) || this.script.answer(reply);
  }

  /** The same on a ticket endpoint, with the ticket faults and script. */
  protected async ticketFaulted(request: FastifyRequest, reply: FastifyReply, answers: PlatformFaultAnswers): Promise<boolean> {
    return (await this.ticketFaults.apply(request, reply, answers)) || this.ticketScript.answer(reply);
  }

  /** `message` as XML, encrypted for `app` (its id the receive id) and signed with its Token. */
  protected seal(app: A, message: Readonly<Record<string, string | number>>, options: SealOptions): Sealed {
    return seal({ token: app.token, encodingAESKey: app.encodingAESKey, receiveId: app.id }, xml(message), this.now(), options);
  }

  /** Whether the periodic ticket pushes go to `app` now. */
  protected pushesTickets(_app: A): boolean {
    return true;
  }

  /** An app by id, the first by default; a `RangeError` naming the option for an unknown one. */
  protected app(id: string | undefined): A {
    const app = id === undefined ? this.apps.values().next().value : this.apps.get(id);
    const { appOption, appNoun } = this.#setup;
    if (app === undefined) throw new RangeError(id === undefined ? `${appOption}: the simulator has no ${appNoun}` : `${appOption}: unknown ${appNoun} ${id}`);
    return app;
  }

  /** Seals `message` for `app` ({@link buildPush}) and delivers it to its event URL, expecting `success`. */
  protected push(app: A, message: Readonly<Record<string, string | number>>, options: SealOptions = {}): Promise<PushRecord> {
    return this.send(app, String(message.InfoType), this.buildPush(message, app.id, options), 'success');
  }

  /** Delivers a push to `app`'s event URL (none set: a failure) and logs it under `infoType`. */
  protected async send(app: A, infoType: string, push: WxPush, expected: string): Promise<PushRecord> {
    const at = this.now();
    const url = app.eventUrl;
    const result = url === undefined ? NO_CALLBACK_URL : await deliver(url, push, expected, this.#setup.pushTimeoutMs);
    return this.pushes.add({ infoType, appId: app.id, url, at, ...result });
  }

  /** Runs `work` after `ms`, unless the server closes first. */
  protected later(ms: number, work: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      work();
    }, ms);
    timer.unref();
    this.#timers.add(timer);
  }

  /** The clock in whole seconds, as the platforms write `CreateTime` and `TimeStamp`. */
  protected seconds(): number {
    return Math.floor(this.now() / 1000);
  }
}
