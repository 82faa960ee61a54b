// dist/cli.js, the `rubi-ea-sim` bin: see scripts/build/rolldown-bin.mjs.
import { binConfig } from '../../scripts/build/rolldown-bin.mjs';

export default binConfig();
