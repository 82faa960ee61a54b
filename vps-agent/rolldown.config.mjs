// dist/cli.js, the `rubi-vps-agent` bin: see scripts/build/rolldown-bin.mjs.
import { binConfig } from '../scripts/build/rolldown-bin.mjs';

export default binConfig();
