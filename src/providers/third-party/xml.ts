import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { EventRejected } from '../../core/events.js';

/**
 * The `<xml>` documents the platforms push (`<xml><ToUserName><![CDATA[…]]></ToUserName>…</xml>`),
 * read as flat records of strings. Parsed by fast-xml-parser with every entity expansion off
 * and document type declarations refused before it sees them (no XXE, no billion laughs); only
 * the five predefined entities and character references are decoded, in text, never in CDATA.
 */

/** Largest document read: a pushed event is well under 4 KiB. */
export const DEFAULT_MAX_XML_BYTES = 64 * 1024;

const CDATA = '#cdata';
const TEXT = '#text';

const parser = new XMLParser({
  processEntities: false,
  htmlEntities: false,
  ignoreAttributes: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseTagValue: false,
  trimValues: true,
  cdataPropName: CDATA,
  maxNestedTags: 16,
});

/**
 * The child elements of the document's root element (`xml`) as a record: a child's text (trimmed,
 * entities decoded) or CDATA (as it is). A child that holds elements, or that appears more than
 * once, is left out: an event type tokenhub does not read may have them, and a field named
 * twice is no field. Throws `EventRejected` (400) for anything that is not such a document.
 *
 * @example
 * parseXmlRecord('<xml><AppId><![CDATA[wx1]]></AppId><Encrypt><![CDATA[…]]></Encrypt></xml>');
 * // { AppId: 'wx1', Encrypt: '…' }
 */
export function parseXmlRecord(xml: string | Buffer, options: { maxBytes?: number; root?: string } = {}): Readonly<Record<string, string>> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_XML_BYTES;
  const root = options.root ?? 'xml';
  const size = typeof xml === 'string' ? Buffer.byteLength(xml) : xml.length;
  if (size > maxBytes) throw new EventRejected(400, `the XML document is over ${maxBytes} bytes`);
  const text = typeof xml === 'string' ? xml : xml.toString('utf8');
  if (/<!(DOCTYPE|ENTITY)/i.test(text)) throw new EventRejected(400, 'the XML document has a document type declaration, which is refused');
  if (XMLValidator.validate(text) !== true) throw new EventRejected(400, 'the body is not a well-formed XML document');
  let parsed: unknown;
  try {
    parsed = parser.parse(text);
  } catch {
    throw new EventRejected(400, 'the body is not an XML document tokenhub reads');
  }
  if (!isObject(parsed) || Object.keys(parsed).length !== 1 || !(root in parsed)) {
    throw new EventRejected(400, `the XML document's root element is not <${root}>`);
  }
  const body = parsed[root];
  if (body === '') return {};
  if (!isObject(body)) throw new EventRejected(400, `<${root}> holds text, not fields`);
  const fields: [string, string][] = [];
  for (const [name, value] of Object.entries(body)) {
    if (name === TEXT || name === CDATA) continue;
    const field = fieldValue(value);
    if (field !== undefined) fields.push([name, field]);
  }
  return Object.fromEntries(fields);
}

/**
 * An `<xml>` document of `record`: strings as CDATA (a `]]>` inside split across two sections),
 * numbers as text. What the platforms send, and what encrypted replies look like.
 *
 * @example
 * buildXmlRecord({ Encrypt: 'abc=', TimeStamp: 1409659813 }); // '<xml><Encrypt><![CDATA[abc=]]></Encrypt><TimeStamp>1409659813</TimeStamp></xml>'
 */
export function buildXmlRecord(record: Readonly<Record<string, string | number>>, root = 'xml'): string {
  const parts = Object.entries(record).map(([name, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) throw new TypeError(`${name}: not an XML element name`);
    const content = typeof value === 'number' ? String(value) : `<![CDATA[${value.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
    return `<${name}>${content}</${name}>`;
  });
  return `<${root}>${parts.join('')}</${root}>`;
}

/** A child's value: text, CDATA, or both (text first); undefined for elements and repeated children. */
function fieldValue(value: unknown): string | undefined {
  if (typeof value === 'string') return decodeEntities(value);
  if (!isObject(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length === 0 || keys.some((k) => k !== CDATA && k !== TEXT)) return undefined;
  const cdata = value[CDATA];
  const text = value[TEXT];
  const sections = cdata === undefined ? [] : Array.isArray(cdata) ? cdata : [cdata];
  if (!sections.every((s) => typeof s === 'string') || (text !== undefined && typeof text !== 'string')) return undefined;
  return (text === undefined ? '' : decodeEntities(text)) + sections.join('');
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** The five predefined entities and character references; anything else is left as written. */
function decodeEntities(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos|#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6});/g, (whole, name: string) => {
    if (name[0] !== '#') return PREDEFINED[name]!;
    const code = name[1] === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
    return code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff) ? String.fromCodePoint(code) : whole;
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
