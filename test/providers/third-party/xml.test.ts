import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildXmlRecord, parseXmlRecord } from '../../../src/providers/third-party/xml.js';

const refused = (message: RegExp) => ({ name: 'EventRejected', status: 400, message });

describe('xml records', () => {
  it('reads the children of <xml>: CDATA as it is, text trimmed with its entities decoded', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<xml>
  <AppId><![CDATA[wx_component]]></AppId>
  <CreateTime>1413192605</CreateTime>
  <InfoType><![CDATA[ component_verify_ticket ]]></InfoType>
  <Name> a &amp; b &lt;c&gt; &#x4E2D;&#25991; &unknown; </Name>
  <Raw><![CDATA[&amp; stays]]></Raw>
  <Split><![CDATA[a]]]]><![CDATA[>b]]></Split>
  <Empty></Empty><Closed/>
</xml>`;
    assert.deepEqual(parseXmlRecord(xml), {
      AppId: 'wx_component',
      CreateTime: '1413192605',
      InfoType: ' component_verify_ticket ',
      Name: 'a & b <c> 中文 &unknown;',
      Raw: '&amp; stays',
      Split: 'a]]>b',
      Empty: '',
      Closed: '',
    });
    assert.deepEqual(parseXmlRecord(Buffer.from('<xml></xml>')), {});
    assert.deepEqual(parseXmlRecord('<xml><中文>值</中文></xml>'), { 中文: '值' });
  });

  it('leaves out children that hold elements or appear twice, and attributes', () => {
    assert.deepEqual(parseXmlRecord('<xml><A x="1">a</A><B><C>c</C></B><D>1</D><D>2</D><E><![CDATA[e]]></E></xml>'), { A: 'a', E: 'e' });
  });

  it('refuses documents with a DTD, entity declarations (XXE, billion laughs), other roots, bad XML, and over the size limit', () => {
    const xxe = '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Encrypt>&x;</Encrypt></xml>';
    const laughs = `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><xml><A>&lol2;</A></xml>`;
    for (const doc of [xxe, laughs, '<!doctype xml><xml/>']) assert.throws(() => parseXmlRecord(doc), refused(/document type declaration/));
    for (const doc of ['', 'not xml', '{"encrypt":"x"}', '<xml><A>1</A>', '<xml><A>1</B></xml>', '<xml>text</xml>']) {
      assert.throws(() => parseXmlRecord(doc), refused(/XML|<xml>/), doc);
    }
    assert.throws(() => parseXmlRecord('<root><A>1</A></root>'), refused(/root element is not <xml>/));
    assert.throws(() => parseXmlRecord('<xml><A>1</A></xml><xml><B>2</B></xml>'), refused(/XML|root/));
    assert.throws(() => parseXmlRecord('<xml><__proto__>1</__proto__></xml>'), refused(/XML/));
    assert.throws(() => parseXmlRecord(`<xml><A>${'a'.repeat(70_000)}</A></xml>`), refused(/over 65536 bytes/));
    assert.throws(() => parseXmlRecord('<xml><A>1</A></xml>', { maxBytes: 10 }), refused(/over 10 bytes/));
    const deep = `<xml>${'<a>'.repeat(40)}x${'</a>'.repeat(40)}</xml>`;
    assert.throws(() => parseXmlRecord(deep), refused(/XML/));
  });

  it('builds what it reads: strings as CDATA (a ]]> split), numbers as text', () => {
    const record = { Encrypt: 'a+b/c=', Text: 'x]]>y <&>', TimeStamp: 1409659813 };
    const xml = buildXmlRecord(record);
    assert.equal(xml, '<xml><Encrypt><![CDATA[a+b/c=]]></Encrypt><Text><![CDATA[x]]]]><![CDATA[>y <&>]]></Text><TimeStamp>1409659813</TimeStamp></xml>');
    assert.deepEqual(parseXmlRecord(xml), { Encrypt: 'a+b/c=', Text: 'x]]>y <&>', TimeStamp: '1409659813' });
    assert.throws(() => buildXmlRecord({ 'not a name': 'x' }), TypeError);
  });
});
