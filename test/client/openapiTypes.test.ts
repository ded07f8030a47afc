/**
 * The client's wire types (clients/typescript/src/openapi.ts) are generated
 * from the server's OpenAPI document: regenerated here in memory, they must
 * equal the committed file, so a change to the API that the client's types
 * do not follow fails here, naming the command that brings them along.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CLIENT_TYPES_FILE, GEN_CLIENT_TYPES, clientTypes } from '../../scripts/genClientTypes';
import { ROOT as REPO } from '../../support/replica';

describe('client: generated OpenAPI types', () => {
  it('clients/typescript/src/openapi.ts is what the generator makes of the current document', async () => {
    const committed = readFileSync(CLIENT_TYPES_FILE, 'utf8');
    const fresh = await clientTypes();
    if (fresh !== committed) {
      const a = committed.split('\n');
      const b = fresh.split('\n');
      let i = 0;
      while (i < a.length && a[i] === b[i]) i++;
      assert.fail(
        `${path.relative(REPO, CLIENT_TYPES_FILE)} is out of date with src/http/openapi.ts: run \`${GEN_CLIENT_TYPES}\` and commit it ` +
          `(first difference at line ${i + 1}: committed ${JSON.stringify(a[i] ?? '<end>')}, generated ${JSON.stringify(b[i] ?? '<end>')})`,
      );
    }
  });

  it('the generator is deterministic', async () => {
    assert.equal(await clientTypes(), await clientTypes());
  });
});
