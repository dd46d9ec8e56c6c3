import * as df from 'durable-functions';
import { OrchestratorNames } from '../src/orchestration/contracts';
import { rootOrchestrator } from '../src/orchestration/root';
import { shardOrchestrator } from '../src/orchestration/shard';

df.app.orchestration(OrchestratorNames.root, rootOrchestrator);
df.app.orchestration(OrchestratorNames.shard, shardOrchestrator);
