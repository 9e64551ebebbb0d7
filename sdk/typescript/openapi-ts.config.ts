import { defineConfig } from '@hey-api/openapi-ts';

// Generates the TypeScript client of metabridge from the checked-in spec (scripts/contract.sh).
export default defineConfig({
  input: '../../openapi/openapi.json',
  output: { path: 'generated' },
  plugins: ['@hey-api/client-fetch', '@hey-api/typescript', '@hey-api/sdk'],
});
